"""Verdicts: each implementation's run, and every pair judged.

Pairs: every implementation against the oracle of the case (oracle.py), then every pair of the
others.

A pair's status:
    pass     every judged tensor within its bound (tensors not judged are listed)
    FAIL     some tensor beyond its bound, or a wrong shape, dtype or divergence point
    error    an implementation raised, timed out or died; its message is kept
    skipped  an implementation declares the case unsupported (listed, never a pass)
    xfail    a failure or error the implementation declares expected, with its reason
    XPASS    a declared expected failure that passed
"""

from __future__ import annotations

import dataclasses

import numpy as np

from comparisons.protocol import merged
from comparisons.protocol.case import policy_label

from . import local
from .oracle import ORACLE_NAME, Oracle, oracle_label
from .parity import STEP0, TRAJECTORY, Comparison, compare_results

PASS, FAIL, ERROR, SKIPPED, XFAIL, XPASS = "pass", "FAIL", "error", "skipped", "xfail", "XPASS"
FAILING = (FAIL, ERROR)
_STRUCTURAL = ("shape", "dtype", "missing", "not an array")


@dataclasses.dataclass
class Run:
    """One implementation's run of one case."""

    impl: str
    status: str                 # "ok", ERROR or SKIPPED
    result: object = None       # TrainResult
    seconds: float | None = None
    message: str = ""


@dataclasses.dataclass
class PairVerdict:
    case: str
    dtype: str
    pair: tuple[str, str]
    status: str
    rows: list[Comparison]
    kappa: float
    message: str = ""
    policy: str = ""  # the case's reduced-precision policy (protocol.case.policy_label)

    @property
    def failing(self) -> bool:
        return self.status in FAILING

    @property
    def judged(self) -> list[Comparison]:
        return [r for r in self.rows if not r.skipped]

    @property
    def not_judged(self) -> list[Comparison]:
        return [r for r in self.rows if r.skipped]

    @property
    def worst(self) -> Comparison | None:
        """The tensor that decides: the largest error in units of its own bound."""
        rows = self.judged
        return max(rows, key=lambda r: r.worst_ratio) if rows else None

    @property
    def worst_p(self) -> Comparison | None:
        """The tensor with the largest error in units of its probabilistic bound (None where
        that level applies to no judged tensor)."""
        rows = [r for r in self.judged if r.p_ratio == r.p_ratio]
        return max(rows, key=lambda r: r.p_ratio) if rows else None

    def info(self, prefix: str) -> tuple[float, int, float]:
        """(max rel, max ULP, the ULPs the bound allows at that element) over the rows whose
        name starts with `prefix` (information); max rel is nan when no element of them
        stands above its bound."""
        rows = [r for r in self.judged if r.name.startswith(prefix) and not r.note]
        rels = [r.max_rel for r in rows if r.max_rel == r.max_rel]
        top = max(rows, key=lambda r: r.max_ulp, default=None)
        return (max(rels, default=float("nan")), top.max_ulp if top else 0,
                top.ulp_allowed if top else 0.0)

    def to_dict(self) -> dict:
        w = self.worst
        return {"case": self.case, "dtype": self.dtype, "policy": self.policy,
                "pair": list(self.pair),
                "status": self.status, "message": self.message, "kappa": self.kappa,
                "worst_ratio": None if w is None else w.worst_ratio,
                "worst_tensor": None if w is None else w.name,
                "worst_p_ratio": None if self.worst_p is None else self.worst_p.p_ratio,
                "worst_p_tensor": None if self.worst_p is None else self.worst_p.name,
                "tensors": [dataclasses.asdict(r) | {"status": r.status} for r in self.rows]}


def _structural(rows) -> bool:
    return any(r.note.startswith(_STRUCTURAL) for r in rows)


def judge_case(oracle: Oracle, runs: dict, expected: dict | None = None,
               trajectories: dict | None = None) -> list[PairVerdict]:
    """Every pair of `runs` ({impl: Run}) for one case: each against the oracle, then each
    pair of the others. `expected` maps impl -> its declared protocol.ExpectedFailure that
    matches the case; `trajectories` maps impl -> its run one update at a time (or why it has
    none), which judges each update against the oracle (local.py)."""
    case, expected, trajectories = oracle.case, expected or {}, trajectories or {}
    verdicts, valid = [], []
    others = [n for n, r in runs.items() if not (n == ORACLE_NAME and case.dtype == "float64")]
    for name in others:
        run = runs[name]
        v = _verdict(oracle, (name, oracle_label(case.dtype)), run, None, expected.get(name),
                     trajectories.get(name))
        verdicts.append(v)
        if run.status == "ok" and not _structural(v.rows):
            valid.append(name)
    for i, a in enumerate(others):
        for b in others[i + 1:]:
            reason = merged([expected.get(a), expected.get(b)])
            if a in valid and b in valid:
                verdicts.append(_verdict(oracle, (a, b), runs[a], runs[b], reason))
            else:
                bad = [n for n in (a, b) if n not in valid]
                verdicts.append(PairVerdict(case.name, case.dtype, (a, b), SKIPPED, [],
                                            oracle.kappa, f"not compared: {', '.join(bad)} "
                                                          "has no valid result"))
    for v in verdicts:
        v.policy = policy_label(case.precision)
    return verdicts


def _verdict(oracle, pair, run_a, run_b, xf, trajectory=None) -> PairVerdict:
    """One pair; `xf` is the expected failure declared for either side (or None);
    `trajectory`, run_a's run one update at a time (against the oracle only)."""
    case = oracle.case
    for run in (run_a, run_b):
        if run is not None and run.status == SKIPPED:
            return PairVerdict(case.name, case.dtype, pair, SKIPPED, [], oracle.kappa,
                               f"{run.impl}: {run.message}")
    for run in (run_a, run_b):
        if run is not None and run.status == ERROR:
            expected = xf is not None and xf.tensors == ("*",)
            msg = f"{run.impl}: {run.message}" + (f" (expected: {xf.reason})" if expected else "")
            return PairVerdict(case.name, case.dtype, pair, XFAIL if expected else ERROR, [],
                               oracle.kappa, msg)
    b, dtype_b = (oracle.base, "float64") if run_b is None else (run_b.result, case.dtype)
    with np.errstate(all="ignore"):
        rows = compare_results(run_a.result, b, oracle.amp, case.dtype, dtype_b, case)
    if trajectory is not None:
        rows = _with_local(rows, trajectory, case)
    failed = [r for r in rows if not r.ok and not r.skipped]
    if failed:
        expected = xf is not None and all(xf.covers(r.name) for r in failed)
        failed.sort(key=lambda r: not r.certain)  # certain failures first
        msg = "; ".join(f"{r.name}: {r.why()}" for r in failed[:3]) + (f" (+{len(failed) - 3} more)" if len(failed) > 3 else "")
        if expected:
            msg += f" (expected: {xf.reason})"
        return PairVerdict(case.name, case.dtype, pair, XFAIL if expected else FAIL, rows,
                           oracle.kappa, msg)
    if xf is not None and xf.strict:
        return PairVerdict(case.name, case.dtype, pair, XPASS, rows, oracle.kappa,
                           f"declared an expected failure ({xf.reason}) but agrees")
    return PairVerdict(case.name, case.dtype, pair, PASS, rows, oracle.kappa)


def _with_local(rows, trajectory, case):
    """The global rows, with the trajectory judged update by update where global judging
    could not: the global rows left unjudged give way to one row per value over every
    update. A pair that fails at step 0 already shows where it starts (update 0)."""
    if any(r.kind == STEP0 and not r.ok and not r.skipped for r in rows):
        return rows
    if isinstance(trajectory, str):  # no trajectory: the global rows stay, with why
        return [dataclasses.replace(r, skipped=f"{r.skipped}; not judged update by update: "
                                                f"{trajectory}") if r.skipped else r
                for r in rows]
    keep = [r for r in rows if not (r.skipped and r.kind == TRAJECTORY)]
    judged = (trajectory.rows if isinstance(trajectory, local.Judged)
              else local.judge(case, trajectory, case.dtype))
    return keep + judged


def summary(verdicts: list[PairVerdict]) -> dict:
    """Counts per status."""
    out = {s: 0 for s in (PASS, FAIL, ERROR, SKIPPED, XFAIL, XPASS)}
    for v in verdicts:
        out[v.status] += 1
    return out
