"""docs/FRAMEWORKS.md: the framework parity table, generated from a main job's report
(`python -m comparisons frameworks --update docs/FRAMEWORKS.md`).

For every framework the report judged: its version (as its own worker reported it), the
dtypes, schedules, losses and activations of the cases judged against the reference, the
verdicts' counts, the worst error/bound outside its declared defects, its conventions at the
kinks as measured here (its own relu'(0) and leaky_relu'(0), through its per-formula
modules), and its findings in ERRATA.md. Which columns hold on every machine and which were
measured on one is said in the page (figures.py has the same distinction).
"""

from __future__ import annotations

import re

from comparisons import catalogue, protocol
from comparisons.judge.oracle import ORACLE_NAME
from comparisons.protocol.case import training_features
from comparisons.judge.verdict import FAIL, PASS, SKIPPED, XFAIL, XPASS

# Columns that hold on every machine, and those measured on the one the page names
EXACT = ("framework", "version", "dtypes", "schedules", "losses", "activations", "training",
         "relu'(0)", "leaky_relu'(0)", "findings")
MEASURED = ("pass", "xfail", "skipped", "FAIL", "worst error/bound (not xfail)")
COLUMNS = EXACT[:7] + MEASURED + EXACT[7:]


def display_name(impl) -> str:
    """How people name the framework: the first word of its declaration's description."""
    return re.split(r"[\s:,]", impl.description.strip() or impl.name)[0]


def findings(errata: str, impl) -> list[tuple[str, str]]:
    """[(title, anchor)] of ERRATA.md's entries about the implementation `impl`: those titled
    with its framework (its display name, or a module it requires: "optax"), less those whose
    "- Applies to:" line names other implementations only."""
    part = errata.split("## The frameworks", 1)[-1]
    names = {display_name(impl).lower(), *(m.lower() for m in impl.requires)}
    out = []
    for title, body in re.findall(r"^### (.+)$\n((?:(?!^#).*\n?)*)", part, re.M):
        applies = re.search(r"^- Applies to: (.+)$", body, re.M)
        if title.split(":")[0].strip().lower() in names and (
                applies is None or f"`{impl.name}`" in applies.group(1)):
            anchor = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
            out.append((title, anchor))
    return out


def rows(doc: dict, manifest: dict | None, errata: str, conventions) -> list[dict]:
    """One row per implementation of the main job's results `doc`; its (relu'(0),
    leaky_relu'(0)) are those its worker measured and the `manifest` holds, else
    `conventions(impl)`'s (comparisons/execution/conventions.py measures them)."""
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
        relu, leaky = env.get("kink_conventions") or conventions(impl)
        out.append({
            "framework": f"{shown} (`{name}`)",
            "version": str(env.get(name) or env.get(impl.requires[0] if impl.requires else name)
                           or "?"),
            "dtypes": ", ".join(sorted({v["dtype"] for v in judged})),
            "schedules": ", ".join(sorted({c.schedule for c in cases})),
            "losses": ", ".join(sorted({c.loss for c in cases})),
            "activations": ", ".join(sorted({a for c in cases for a in c.activations})),
            "training": ", ".join(sorted({f for c in cases for f in training_features(c)
                                          if f != "lr_schedule:constant"})),
            "pass": str(sum(v["status"] in (PASS, XPASS) for v in vs)),
            "xfail": str(sum(v["status"] == XFAIL for v in vs)),
            "skipped": str(sum(v["status"] == SKIPPED for v in vs)),
            "FAIL": str(sum(v["status"] in (FAIL, "error") for v in vs)),
            "worst error/bound (not xfail)": (f"{worst['worst_ratio']:.3g} ({worst['case']}, "
                                              f"{worst['worst_tensor']})" if worst else "–"),
            "relu'(0)": relu, "leaky_relu'(0)": leaky,
            "findings": "; ".join(f"[{t.split(':', 1)[1].strip()}](../ERRATA.md#{a})"
                                  for t, a in findings(errata, impl)) or "none",
        })
    return out


def markdown(table: list[dict], where: str, autocast: list[str] | None = None) -> str:
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
             "through its per-formula modules, or, for a package that trains with its "
             "framework's own layers (a package without them), through its train (the suite's: "
             "relu'(0) = 0, leaky_relu'(0) = 0.01). `training` lists the updates judged (protocol.case.training_features: "
             "optimizer:sgd alone is W -= lr dW; docs/CASES.md, \"Optimizers\").", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r[c] for c in COLUMNS) + " |" for r in table]
    if autocast:
        lines += ["", "## Mixed precision on this CPU", "",
                  "What each framework's own mechanism does to the operations these networks "
                  "use (issue #32): torch-nn's `torch.autocast(\"cpu\", dtype)`, keras's "
                  "`mixed_bfloat16` / `mixed_float16` global policy, paddle-nn's "
                  "`paddle.amp.auto_cast(level=\"O1\", dtype)`, each measured in a process of "
                  "its own (`comparisons/execution/autocast.py`), every operation on float32 "
                  "inputs and on inputs already in the low dtype. **low**: the mechanism casts "
                  "the operation down; f32: it casts it up; input: it leaves it in its inputs' "
                  "dtype, so in a network it runs in the dtype of whatever feeds it (a softmax "
                  "after a bf16 product runs in bf16). JAX has no such mechanism: an operation "
                  "computes in its inputs' dtype. Measured on " + where + ".", ""] + autocast
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
