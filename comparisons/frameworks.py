"""docs/FRAMEWORKS.md: the framework parity table, generated from a main job's report
(`python -m comparisons frameworks --update docs/FRAMEWORKS.md`).

For every framework the report judged: its version (as its own worker reported it), the
dtypes, schedules, losses and activations of the cases judged against the reference, the
verdicts' counts, the worst error/bound outside its declared defects, its conventions at the
kinks as measured here (its own relu'(0) and leaky_relu'(0), through its per-formula
modules), and its findings in ERRATA.md. Which columns hold on every machine and which were
measured on one is said in the page (comparisons/figures.py has the same distinction).
"""

from __future__ import annotations

import re

from . import catalogue, protocol
from .judge import FAIL, ORACLE_NAME, PASS, SKIPPED, XFAIL, XPASS

# Columns that hold on every machine, and those measured on the one the page names
EXACT = ("framework", "version", "dtypes", "schedules", "losses", "activations", "relu'(0)",
         "leaky_relu'(0)", "findings")
MEASURED = ("pass", "xfail", "skipped", "FAIL", "worst error/bound (not xfail)")
COLUMNS = EXACT[:6] + MEASURED + EXACT[6:]


def display_name(impl) -> str:
    """How people name the framework: the first word of its declaration's description."""
    return re.split(r"[\s:,]", impl.description.strip() or impl.name)[0]


def findings(errata: str, name: str) -> list[tuple[str, str]]:
    """[(title, anchor)] of ERRATA.md's entries about the framework `name`."""
    part = errata.split("## The frameworks", 1)[-1]
    out = []
    for title in re.findall(r"^### (.+)$", part, re.M):
        if title.split(":")[0].strip() == name:
            anchor = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
            out.append((title, anchor))
    return out


def kink_conventions(impl) -> tuple[str, str]:
    """(relu'(0), leaky_relu'(0)) as the implementation's own activations compute them, each
    framework in a process of its own (some cannot share one: ERRATA.md), or '–' where it
    has no per-formula modules to ask."""
    import json
    import subprocess
    import sys
    if impl.command:  # no per-formula modules to ask
        return "–", "–"
    proc = subprocess.run([impl.interpreter() or sys.executable, "-m", "comparisons.frameworks",
                           impl.module], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl.name}: its conventions could not be measured: "
                           f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return tuple(json.loads(proc.stdout))


def _conventions(module: str) -> list[str]:
    """In the child: relu'(0) and leaky_relu'(0) of the package `module`, as text."""
    import importlib

    import numpy as np
    try:
        act = importlib.import_module(f"{module}.activations")
        training = importlib.import_module(f"{module}.training")
    except ModuleNotFoundError:
        return ["–", "–"]
    zero = training.as_array(np.zeros((1, 1)), "float64")
    return [f"{float(np.asarray(training.as_numpy(f(zero)))[0, 0]):g}"
            for f in (act.relu_derivative, act.leaky_relu_derivative)]


def rows(doc: dict, manifest: dict | None, errata: str) -> list[dict]:
    envs = (manifest or {}).get("implementations", {})
    out = []
    for name in sorted(doc["implementations"]):  # the same page whatever the job's order
        if name == ORACLE_NAME:
            continue
        impl = protocol.resolve(name)
        vs = [v for v in doc["parity"] if v["pair"][0] == name
              and v["pair"][1].startswith(ORACLE_NAME)]
        judged = [v for v in vs if v["status"] != SKIPPED]
        cases = [catalogue.get(v["case"]) for v in judged if v["case"] in catalogue.names()]
        strict = [v for v in vs if v["status"] in (PASS, XPASS) and v["worst_ratio"] is not None]
        worst = max(strict, key=lambda v: v["worst_ratio"], default=None)
        env = envs.get(name, {})
        shown = display_name(impl)
        relu, leaky = kink_conventions(impl)
        out.append({
            "framework": f"{shown} (`{name}`)",
            "version": str(env.get(name) or env.get(impl.requires[0] if impl.requires else name)
                           or "?"),
            "dtypes": ", ".join(sorted({v["dtype"] for v in judged})),
            "schedules": ", ".join(sorted({c.schedule for c in cases})),
            "losses": ", ".join(sorted({c.loss for c in cases})),
            "activations": ", ".join(sorted({a for c in cases for a in c.activations})),
            "pass": str(sum(v["status"] in (PASS, XPASS) for v in vs)),
            "xfail": str(sum(v["status"] == XFAIL for v in vs)),
            "skipped": str(sum(v["status"] == SKIPPED for v in vs)),
            "FAIL": str(sum(v["status"] in (FAIL, "error") for v in vs)),
            "worst error/bound (not xfail)": (f"{worst['worst_ratio']:.3g} ({worst['case']}, "
                                              f"{worst['worst_tensor']})" if worst else "–"),
            "relu'(0)": relu, "leaky_relu'(0)": leaky,
            "findings": "; ".join(f"[{t.split(':', 1)[1].strip()}](../ERRATA.md#{a})"
                                  for t, a in findings(errata, shown)) or "none",
        })
    return out


def markdown(table: list[dict], where: str) -> str:
    lines = ["# Frameworks: the parity table", "",
             "Generated by `python -m comparisons frameworks --update docs/FRAMEWORKS.md` from "
             "the main job's report. Each framework is judged against the float64 reference, "
             "case by case, element by element within the a-priori rounding bound of each "
             "formula (TOLERANCES.md); a declared defect is *xfail*, with its reason and "
             "evidence in ERRATA.md, and never counted as a pass.", "",
             "The counts and the worst error/bound depend on each framework's CPU kernels; "
             f"they were measured on {where}. `tests/test_docs.py` checks every other column "
             "on any machine: the versions are the pinned ones (`constraints.txt`), the "
             "conventions at the kinks are each framework's own derivatives at 0, asked "
             "through its per-formula modules (the suite's: relu'(0) = 0, leaky_relu'(0) = "
             "0.01).", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r[c] for c in COLUMNS) + " |" for r in table]
    lines += ["", "Back to the [README](../README.md).", ""]
    return "\n".join(lines)


def parse(text: str) -> list[dict]:
    """The table of a FRAMEWORKS.md as rows of {column: cell}."""
    out = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| framework |"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) == len(COLUMNS):
                out.append(dict(zip(COLUMNS, cells)))
    return out


if __name__ == "__main__":  # python -m comparisons.frameworks MODULE: its kink conventions
    import json
    import sys
    print(json.dumps(_conventions(sys.argv[1])))
