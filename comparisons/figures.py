"""The measured figures that README.md and TOLERANCES.md quote, computed from a main job's
results.json, so that documented figures come from a command and are checked against the
code (`python -m comparisons figures`, tests/test_docs.py).

In a document, a figure is written <!-- figure:KEY -->VALUE<!-- /figure -->; `--update`
rewrites VALUE from the report, `--check` says which differ.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from . import catalogue

MARK = re.compile(r"<!-- figure:([a-z0-9-]+) -->(.*?)<!-- /figure -->", re.S)


def _g(x: float) -> str:
    return f"{x:.2g}" if x < 1e-3 or x >= 1e4 else f"{x:.3g}"


def sensitivity(oracle) -> float:
    """The smallest relative error, common to every step-0 gradient, that the judge detects
    between two float64 implementations of the case: min over elements of bound / |g|."""
    from .parity import UNIT_ROUNDOFF, gamma
    u = UNIT_ROUNDOFF["float64"]
    scale = 2 * u * gamma(oracle.case, u)
    out = float("inf")
    for k, g in oracle.base.gradients.items():
        g = np.abs(np.asarray(g, dtype=np.float64))
        E = np.asarray(oracle.amp.bounds["gradients"][k])
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(g > 0, scale * E / g, np.inf)
        out = min(out, float(r.min()))
    return out


def compute(doc: dict) -> dict[str, str]:
    """{key: text} of every figure, from a main job's results.json (float64 cases), and the
    catalogue's coverage table."""
    pairs = [v for v in doc["parity"] if v["dtype"] == "float64" and v["worst_ratio"] is not None
             and v["status"] == "pass"]
    worst = max(pairs, key=lambda v: v["worst_ratio"])
    step0 = max((t for v in pairs for t in v["tensors"]
                 if t["kind"] == "step 0" and not t["skipped"]), key=lambda t: t["worst_ratio"])
    ulp = max(t["max_ulp"] for v in pairs for t in v["tensors"]
              if t["kind"] == "step 0" and t["name"].startswith("d") and not t["skipped"])
    kappas = {c: k for c, k in doc["kappa"].items() if k is not None}
    sens = doc.get("sensitivity", {})
    return {
        "worst-ratio": _g(worst["worst_ratio"]),
        "worst-ratio-where": f"{worst['case']}, {worst['pair'][0]} vs {worst['pair'][1]}, "
                             f"{worst['worst_tensor']}",
        "worst-step0-ratio": _g(step0["worst_ratio"]),
        "worst-step0-ulp": str(ulp),
        "kappa-min": _g(min(kappas.values())),
        "kappa-max": _g(max(kappas.values())),
        "kappa-max-case": max(kappas, key=kappas.get),
        "pairs": str(len(doc["parity"])),
        "cases": str(len(doc["cases"])),
        "sensitivity-best": _g(min(sens.values())) if sens else "–",
        "sensitivity-median": _g(float(np.median(list(sens.values())))) if sens else "–",
        "sensitivity-worst": _g(max(sens.values())) if sens else "–",
        "sensitivity-worst-case": max(sens, key=sens.get) if sens else "–",
        "min-margin": _g(min((v for v in doc.get("min_margin", {}).values() if v is not None),
                             default=float("inf"))),
        "coverage": "\n" + catalogue.coverage_table() + "\n",
    }


def load(report_dir: Path) -> dict:
    return json.loads((Path(report_dir) / "results.json").read_text())


def differences(text: str, figures: dict) -> list[tuple[str, str, str]]:
    """[(key, documented, measured)] of the figures in `text` that differ or are unknown."""
    out = []
    for key, value in MARK.findall(text):
        want = figures.get(key)
        if want is None or value.strip() != want.strip():
            out.append((key, value.strip(), want if want is not None else "(no such figure)"))
    return out


def update(text: str, figures: dict) -> str:
    return MARK.sub(lambda m: f"<!-- figure:{m.group(1)} -->"
                              f"{figures.get(m.group(1), m.group(2))}<!-- /figure -->", text)
