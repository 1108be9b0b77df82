"""The measured figures that the docs quote, computed from a main job's report, so that
documented figures come from a command (`python -m comparisons figures`) and are checked
against the code (tests/test_docs.py) on any machine.

In a document, a figure is written <!-- figure:KEY -->VALUE<!-- /figure -->; `--update`
rewrites VALUE from the report, `--check` says which differ. Every figure is of one kind,
which says what a machine other than the one that wrote the document may compare:

- EXACT: a function of the repository alone (case counts, the coverage table). Equal on
  every machine.
- REFERENCE: computed by the float64 reference alone (κ, sensitivities, margins). Its
  summation order, and so its last bits, depend on the CPU's kernels (BLAS, vector width),
  so two machines' values may differ, by at most the figure's derived `rtol`; a documented
  value is right when a value within rtol of this machine's prints as it.
- MEASURED: depends on every framework's kernels (the worst error/bound and where it
  occurs): 0.119 on one machine of this project's kind, 0.0773 on another. A document
  states it with `measured-on` (date, CPU, kernel settings) beside it, and only this
  command, on the machine it names, compares it. What holds everywhere is the verdict:
  error/bound <= 1 in every pair.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from comparisons import catalogue
from comparisons.judge import formulas
from comparisons.judge.bounds import UNIT_ROUNDOFF
from comparisons.judge.parity import gamma

MARK = re.compile(r"<!-- figure:([a-z0-9-]+) -->(.*?)<!-- /figure -->", re.S)

EXACT, REFERENCE, MEASURED = "exact", "reference", "measured"

# κ's response is measured with perturbations of δ = 2^-36 times each update's bound
# (comparisons.judge.parity.AMPLIFICATION_DELTA); each of its two runs (base, perturbed) carries
# its own rounding of ~u·(1 + κ) bounds, so one machine's κ is within 2u/δ of the exact
# response, relative, and two machines' within 4u/δ = 2^-15 (measured: 1.0e-6 between
# OpenBLAS Haswell/AVX-512 and Sandybridge/SSE4.2 kernels).
KAPPA_RTOL = 4 * UNIT_ROUNDOFF["float64"] / 2.0 ** -36
# A bound E is a float64 sum of magnitudes, relative error <= γ_k, k its number of terms:
# below 2^-40 for k < 8192, every catalogue case. A margin |Z| / E moves by that, and by
# 2u / margin for Z's own rounding (margins >= 1 where they are judged).
BOUND_RTOL = 2.0 ** -40


def _sensitivity_rtol(s: float) -> float:
    """s = c·E/|g|; two correct float64 runs differ in g by at most 2uγE, so 1/|g| moves by
    at most s/(1 - s) relative (c = 2uγ), and E by BOUND_RTOL."""
    return s / (1 - s) + BOUND_RTOL if s < 0.5 else float("inf")


@dataclasses.dataclass(frozen=True)
class Figure:
    kind: str
    what: str


FIGURES = {
    "worst-ratio": Figure(MEASURED, "worst error/bound over the float64 pairs"),
    "worst-ratio-where": Figure(MEASURED, "the case, pair and tensor of worst-ratio"),
    "worst-step0-ratio": Figure(MEASURED, "worst error/bound at step 0"),
    "worst-step0-ulp": Figure(MEASURED, "largest step-0 gradient difference in ULP"),
    "measured-on": Figure(MEASURED, "where and when the measured figures were measured"),
    "kappa-min": Figure(REFERENCE, "the smallest κ of the catalogue"),
    "kappa-max": Figure(REFERENCE, "the largest κ of the catalogue"),
    "kappa-max-case": Figure(REFERENCE, "the case of kappa-max"),
    "sensitivity-best": Figure(REFERENCE, "the smallest detectable common relative error"),
    "sensitivity-median": Figure(REFERENCE, "its median over the float64 cases"),
    "sensitivity-worst": Figure(REFERENCE, "its largest value"),
    "sensitivity-worst-case": Figure(REFERENCE, "the case of sensitivity-worst"),
    "min-margin": Figure(REFERENCE, "the smallest kink margin, in bounds"),
    "sensitivity-wide-float32": Figure(REFERENCE, "sensitivity of wide-tanh-float32"),
    "sensitivity-wide-float32-worst-case": Figure(
        REFERENCE, "the same from the worst-case level alone"),
    "sensitivity-wide-float64": Figure(REFERENCE, "sensitivity of wide-relu-float64"),
    "pairs": Figure(EXACT, "judged pairs in the main job"),
    "cases": Figure(EXACT, "catalogue cases"),
    "coverage": Figure(EXACT, "the catalogue's coverage table"),
    "formulas": Figure(EXACT, "the table of the formulas (comparisons/judge/formulas.py)"),
}


def _g(x: float) -> str:
    return f"{x:.2g}" if x < 1e-3 or x >= 1e4 else f"{x:.3g}"


def sensitivity(oracle, levels=("worst-case", "probabilistic")) -> float:
    """The smallest relative error, common to every step-0 gradient, that the judge detects
    between an implementation of the case's dtype and the float64 oracle: min over elements
    of bound / |g|, the bound being the smaller of the two levels' (TOLERANCES.md, "Two
    levels"), or the one level named."""
    dtype = oracle.case.dtype
    u = UNIT_ROUNDOFF[dtype]
    scale = (u + UNIT_ROUNDOFF["float64"]) * gamma(oracle.case, u)
    level2 = oracle.amp.bounds.get("probabilistic") if "probabilistic" in levels else None
    out = float("inf")
    for k, g in oracle.base.gradients.items():
        g = np.abs(np.asarray(g, dtype=np.float64))
        bound = (scale * np.asarray(oracle.amp.bounds["gradients"][k])
                 if "worst-case" in levels else np.full(g.shape, np.inf))
        if level2:
            bound = np.minimum(bound, scale * level2["S"][f"d{k}"] + level2["J"][f"d{k}"])
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(g > 0, bound / g, np.inf)
        out = min(out, float(r.min()))
    return out


def _inputs(doc: dict) -> tuple[dict, dict, list]:
    kappas = {c: k for c, k in doc["kappa"].items() if k is not None}
    sens = doc.get("sensitivity", {})
    # a kink's margin: a case with a reduced-precision policy logs its roundings' too
    policies = {v["case"] for v in doc["parity"] if v.get("policy")}
    margins = [v for c, v in doc.get("min_margin", {}).items()
               if v is not None and c not in policies]
    return kappas, sens, margins


# The probabilistic level's S is a float64 simulation with fixed seeds: the same noise on every
# machine, and its own rounding 2^-33 of each response (comparisons/judge/noise.py, AMP), so a
# sensitivity from it moves by far less than this between machines.
WIDE_RTOL = 1e-6
WIDE = {"sensitivity-wide-float32": ("wide-tanh-float32", "both"),
        "sensitivity-wide-float32-worst-case": ("wide-tanh-float32", "worst-case"),
        "sensitivity-wide-float64": ("wide-relu-float64", "both")}


def wide_sensitivities(oracles: dict) -> dict:
    """{figure key: value} of the WIDE figures, from the main job's oracles."""
    out = {}
    for key, (case, level) in WIDE.items():
        if case in oracles:
            out[key] = sensitivity(oracles[case], ("worst-case",) if level == "worst-case"
                                   else ("worst-case", "probabilistic"))
    return out


def provenance(manifest: dict | None) -> str:
    """Where a report was measured: its date, CPU, cores, widest vector ISA and the kernel
    variables that were set (manifest.py)."""
    if not manifest:
        return "an unrecorded machine"
    isa = manifest.get("cpu_isa") or []
    text = (f"{manifest.get('date', 'undated')}, {manifest.get('cpu', 'unknown CPU')}, "
            f"{manifest.get('cpu_count', '?')} cores"
            + (f", {isa[-1].upper().replace('AVX512F', 'AVX-512')}" if isa else ""))
    env = manifest.get("kernels_env") or {}
    return text + "".join(f", {k}={v}" for k, v in sorted(env.items()))


def compute(doc: dict, manifest: dict | None = None) -> dict[str, str]:
    """{key: text} of every figure, from a main job's results.json (float64 cases), its
    manifest, and the catalogue's coverage table."""
    pairs = [v for v in doc["parity"] if v["dtype"] == "float64" and v["worst_ratio"] is not None
             and v["status"] == "pass"]
    worst = max(pairs, key=lambda v: v["worst_ratio"])
    step0 = max((t for v in pairs for t in v["tensors"]
                 if t["kind"] == "step 0" and not t["skipped"]), key=lambda t: t["worst_ratio"])
    ulp = max(t["max_ulp"] for v in pairs for t in v["tensors"]
              if t["kind"] == "step 0" and t["name"].startswith("d") and not t["skipped"])
    kappas, sens, margins = _inputs(doc)
    return {
        "worst-ratio": _g(worst["worst_ratio"]),
        "worst-ratio-where": f"{worst['case']}, {worst['pair'][0]} vs {worst['pair'][1]}, "
                             f"{worst['worst_tensor']}",
        "worst-step0-ratio": _g(step0["worst_ratio"]),
        "worst-step0-ulp": str(ulp),
        "measured-on": provenance(manifest),
        "kappa-min": _g(min(kappas.values())),
        "kappa-max": _g(max(kappas.values())),
        "kappa-max-case": max(kappas, key=kappas.get),
        "pairs": str(len(doc["parity"])),
        "cases": str(len(doc["cases"])),
        "sensitivity-best": _g(min(sens.values())) if sens else "–",
        "sensitivity-median": _g(float(np.median(list(sens.values())))) if sens else "–",
        "sensitivity-worst": _g(max(sens.values())) if sens else "–",
        "sensitivity-worst-case": max(sens, key=sens.get) if sens else "–",
        "min-margin": _g(min(margins, default=float("inf"))),
        **{k: _g(doc.get("sensitivity_wide", {}).get(k, float("nan"))) for k in WIDE},
        "coverage": "\n" + catalogue.coverage_table() + "\n",
        "formulas": "\n" + formulas.markdown() + "\n",
    }


def _texts(x: float, rtol: float) -> set[str]:
    """How any value within rtol of x prints (_g is monotone, so the ends and x suffice)."""
    return {_g(x * (1 - rtol)), _g(x), _g(x * (1 + rtol))}


def _near_extreme(values: dict, rtol, largest: bool) -> set[str]:
    """The keys whose value another machine might make the extreme: within 2·rtol of it."""
    top = max(values.values()) if largest else min(values.values())
    return {k for k, v in values.items()
            if (v >= top * (1 - 2 * rtol(top)) if largest else v <= top * (1 + 2 * rtol(top)))}


def accepted(doc: dict) -> dict[str, set[str]]:
    """For every EXACT and REFERENCE figure, the texts that a document may quote for it and
    be right on any machine, given this machine's report (MEASURED figures are absent)."""
    kappas, sens, margins = _inputs(doc)
    out = {"pairs": {str(len(doc["parity"]))}, "cases": {str(len(doc["cases"]))},
           "coverage": {"\n" + catalogue.coverage_table() + "\n"},
           "formulas": {"\n" + formulas.markdown() + "\n"}}
    out["kappa-min"] = _texts(min(kappas.values()), KAPPA_RTOL)
    out["kappa-max"] = _texts(max(kappas.values()), KAPPA_RTOL)
    out["kappa-max-case"] = _near_extreme(kappas, lambda _: KAPPA_RTOL, largest=True)
    if sens:
        vals = sorted(sens.values())
        out["sensitivity-best"] = _texts(vals[0], _sensitivity_rtol(vals[0]))
        out["sensitivity-worst"] = _texts(vals[-1], _sensitivity_rtol(vals[-1]))
        out["sensitivity-worst-case"] = _near_extreme(sens, _sensitivity_rtol, largest=True)
        # the median moves no further than its neighbours' tolerances allow
        med = float(np.median(vals))
        out["sensitivity-median"] = _texts(med, _sensitivity_rtol(vals[-1]))
    else:
        out |= {k: {"–"} for k in ("sensitivity-best", "sensitivity-median",
                                   "sensitivity-worst", "sensitivity-worst-case")}
    m = min(margins, default=float("inf"))
    out["min-margin"] = _texts(m, BOUND_RTOL + 2 * UNIT_ROUNDOFF["float64"])
    wide = doc.get("sensitivity_wide", {})
    for k in WIDE:
        out[k] = _texts(wide[k], WIDE_RTOL + _sensitivity_rtol(wide[k])) if k in wide else {"nan"}
    assert set(out) == {k for k, f in FIGURES.items() if f.kind != MEASURED}
    return out


def load(report_dir: Path) -> tuple[dict, dict | None]:
    """(results.json, manifest.json or None) of a main job's report directory."""
    doc = json.loads((Path(report_dir) / "results.json").read_text())
    try:
        manifest = json.loads((Path(report_dir) / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = None
    return doc, manifest


def differences(text: str, figures: dict, accept: dict | None = None,
                kinds=(EXACT, REFERENCE, MEASURED)) -> list[tuple[str, str, str]]:
    """[(key, documented, measured)] of the figures in `text` of the given kinds that differ
    from `figures` (or, where `accept` gives the texts that are right on any machine, that
    are not among them), and of every unknown key."""
    out = []
    for key, value in MARK.findall(text):
        want = figures.get(key)
        if want is None or key not in FIGURES:
            out.append((key, value.strip(), "(no such figure)"))
        elif FIGURES[key].kind not in kinds:
            continue
        elif accept is not None and key in accept:
            if value.strip() not in {a.strip() for a in accept[key]}:
                out.append((key, value.strip(), want))
        elif value.strip() != want.strip():
            out.append((key, value.strip(), want))
    return out


def update(text: str, figures: dict) -> str:
    return MARK.sub(lambda m: f"<!-- figure:{m.group(1)} -->"
                              f"{figures.get(m.group(1), m.group(2))}<!-- /figure -->", text)
