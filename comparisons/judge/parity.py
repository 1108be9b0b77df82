"""One comparer for every parity check: each element against its own a-priori bound.

Two implementations a and b that evaluate the same formulas agree on an element x when

    |a - b| <= (u_a + u_b) * gamma * E(x)                    step 0: gradients, initial A[L]
    |a - b| <= (u_a + u_b) * gamma * (1 + kappa) * E(x)      trajectory, final params and A[L]

E(x) is the first-order rounding bound of the formula that produced x, computed by the
reference's formulas from the magnitudes of their terms (bounds.py); u is each side's unit
roundoff; gamma = 1 / (1 - n u) covers the second-order terms (Higham's gamma_n); kappa is the
run's measured amplification of per-update rounding (`amplification`). The *ratio* of |a - b|
to that bound decides: <= 1 passes. Max abs, max rel (over the elements larger than their
bound) and max ULP are reported as information.
The argument is in TOLERANCES.md.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import bounds
from .bounds import KAPPA_MAX, UNIT_ROUNDOFF

EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps)}

# A perturbation of 2^-36 times each update's rounding bound: 2^17 above the rounding of the
# perturbed run itself (2^-53), so its response is measured to ~1e-5, and far inside the
# linear regime for kappa up to KAPPA_MAX.
AMPLIFICATION_DELTA = 2.0 ** -36

STEP0 = "step 0"
TRAJECTORY = "trajectory"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One tensor of one pair: the deciding ratio and, as information, the usual measures."""

    name: str
    shape: tuple
    kind: str                 # STEP0 or TRAJECTORY
    worst_ratio: float        # max over elements of |a - b| / bound; <= 1 passes
    worst_index: tuple | None
    max_abs: float
    max_rel: float            # over the elements larger than their bound (nan: none is)
    max_ulp: int
    skipped: str = ""         # why this tensor was not judged ("" when it was)
    note: str = ""            # a failure that is not a ratio (shape, dtype, divergence)
    unbounded: int = 0        # elements not judged: their bound overflows the float range
    # The probabilistic level (TOLERANCES.md, "Two levels"): max |a - b| / its bound, where a
    # correct pair exceeds that bound with probability at most `p`; nan where not applied.
    p_ratio: float = float("nan")
    p_index: tuple | None = None
    p: float | None = None
    # The ULPs the worst-case bound allows at the element of max_ulp (information: a large
    # count within a larger allowance is rounding, as at a cancellation)
    ulp_allowed: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.skipped and not self.note and self.worst_ratio <= 1.0
                and not self.p_ratio > 1.0)

    @property
    def certain(self) -> bool:
        """A failure beyond the worst-case bound (certain), not only the probabilistic one."""
        return bool(self.note) or self.worst_ratio > 1.0

    def why(self) -> str:
        """The measure that decides a failed row, as the verdict quotes it."""
        if self.note:
            return self.note
        if self.worst_ratio > 1.0:
            return f"error/bound {self.worst_ratio:.3g}"
        return (f"error/probabilistic bound {self.p_ratio:.3g} at {list(self.p_index or ())} "
                f"(a correct implementation lands there with probability <= {self.p:.0e}; "
                f"worst-case error/bound {self.worst_ratio:.3g})")

    @property
    def status(self) -> str:
        if self.skipped:
            return "not judged"
        return "ok" if self.ok else "FAIL"

    def line(self) -> str:
        if self.skipped:
            return f"{self.name:<16} not judged: {self.skipped}"
        if self.note:
            return f"{self.name:<16} FAIL: {self.note}"
        at = "" if self.worst_index is None else str(list(self.worst_index))
        extra = f", {self.unbounded} not judged: bound overflows" if self.unbounded else ""
        level2 = ("" if self.p_ratio != self.p_ratio else
                  f"; probabilistic {self.p_ratio:.3g} at {list(self.p_index or ())}")
        return (f"{self.name:<16} {str(self.shape):<10} error/bound {self.worst_ratio:<9.3g} "
                f"at {at:<8}{level2} (max abs {self.max_abs:.2e}, max rel "
                f"{_rel(self.max_rel)}, max ULP {self.max_ulp}{extra})  {self.status}")


def _rel(x: float) -> str:
    """max rel as shown: '–' where no element stands above its bound."""
    return f"{x:.2e}" if x == x else "–"


def ulp_distance(a, b) -> np.ndarray:
    """Number of representable floats between a and b, element-wise, in their common dtype
    (float32 or float64). Uses the ordered-integer view, so -0 and +0 are 0 apart."""
    a, b = np.asarray(a), np.asarray(b)
    dtype = np.result_type(a, b)
    if dtype == np.float32:
        ia = a.astype(np.float32).view(np.int32).astype(np.int64)
        ib = b.astype(np.float32).view(np.int32).astype(np.int64)
        lo = np.int64(np.iinfo(np.int32).min)
    else:
        ia = a.astype(np.float64).view(np.int64)
        ib = b.astype(np.float64).view(np.int64)
        lo = np.iinfo(np.int64).min
    # Map sign-magnitude to a monotone integer line: negative floats count down from 0.
    oa = np.where(ia < 0, lo - ia, ia)
    ob = np.where(ib < 0, lo - ib, ib)
    same = (oa >= 0) == (ob >= 0)
    with np.errstate(over="ignore"):
        d_same = np.abs(oa - ob).astype(np.uint64)
        d_cross = np.abs(oa).astype(np.uint64) + np.abs(ob).astype(np.uint64)
    return np.where(same, d_same, d_cross)


def compare(name: str, a, b, bound, kind: str = STEP0, dtype: str | None = None,
            pbound=None, p: float | None = None) -> Comparison:
    """Compare `a` (under test) with `b` element by element against `bound` (the allowed
    |a - b|, same shape) and, where given, against `pbound`, the probabilistic bound that a
    correct pair exceeds with probability at most `p` (inf where it does not apply). Never
    raises on bad values: a missing tensor, a wrong shape or dtype (when `dtype` is given),
    or a non-finite element that the other side does not share is a failed row."""
    if a is None:
        return _failed(name, np.shape(b), kind, "missing")
    try:
        a, b = np.asarray(a), np.asarray(b)
        bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), b.shape)
    except Exception as e:  # an object that is not an array of numbers
        return _failed(name, (), kind, f"not an array of numbers ({e.__class__.__name__})")
    if a.shape != b.shape:
        return _failed(name, b.shape, kind, f"shape {a.shape}, expected {b.shape}")
    if a.dtype.kind != "f" or (dtype is not None and a.dtype != np.dtype(dtype)):
        return _failed(name, b.shape, kind,
                       f"dtype {a.dtype}, expected {dtype or 'a floating dtype'}")
    if a.size == 0:
        return Comparison(name, a.shape, kind, 0.0, None, 0.0, 0.0, 0)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    fa, fb = np.isfinite(a64), np.isfinite(b64)
    if not np.array_equal(fa, fb) or not np.array_equal(a64[~fa], b64[~fb], equal_nan=True):
        i = tuple(int(x) for x in np.argwhere((fa != fb) | (~fa & (a64 != b64)))[0])
        return _failed(name, a.shape, kind, f"non-finite element {list(i)}: {a64[i]} "
                                            f"against {b64[i]}")
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(fa, np.abs(a64 - b64), 0.0)
    mag = np.where(fa, np.maximum(np.abs(a64), np.abs(b64)), 0.0)
    judgeable = np.isfinite(bound) | ~fa
    pb = None if pbound is None else np.broadcast_to(np.asarray(pbound, dtype=np.float64),
                                                     b.shape)
    # An element whose worst-case bound is inf (it overflows, or an Adam denominator has no
    # digit left at that level) is still judged where the probabilistic bound is finite.
    level2_only = ~judgeable & (fa & np.isfinite(pb) if pb is not None else False)
    unbounded = int((~judgeable & ~level2_only).sum())
    if unbounded == a.size:
        return skipped(name, a.shape, kind, "its bound overflows the float range")
    # Relative error only where the value stands above its own bound: an element within its
    # rounding bound of 0 (an exact 0 computed as 1e-17, say) has a relative error of ~1 that
    # measures nothing. nan when no element qualifies.
    resolved = fa & judgeable & (mag > bound)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.where(resolved, diff / np.where(resolved, mag, 1.0), 0.0)
        # bound 0: computed exactly, so any difference is infinitely far outside it
        ratio = np.where(judgeable & (diff > 0), diff / np.where(judgeable, bound, 1.0), 0.0)
    # ULP (information) in the lower of the two precisions, over the elements of one sign
    # that stand above their bound: across zero, or within rounding of it, a count of floats
    # measures nothing (1e-300 and -1e-300 are 9e18 apart)
    low = a.dtype if np.finfo(a.dtype).eps >= np.finfo(b.dtype).eps else b.dtype
    ulp = ulp_distance(np.where(fa, a, 0).astype(low), np.where(fb, b, 0).astype(low))
    ulp = np.where((np.sign(a64) == np.sign(b64)) & resolved, ulp, 0)  # as max rel: above E
    at_ulp = np.unravel_index(int(np.argmax(ulp)), ulp.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        allowed = float(bound[at_ulp] / np.spacing(np.abs(b64[at_ulp]).astype(low)))
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    level2 = {}
    if pb is not None:
        applies = fa & np.isfinite(pb)
        if applies.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                pr = np.where(applies & (diff > 0), diff / np.where(applies, pb, 1.0), 0.0)
            at = np.unravel_index(int(np.argmax(pr)), pr.shape)
            level2 = {"p_ratio": float(pr[at]), "p_index": tuple(int(i) for i in at), "p": p}
    return Comparison(name, a.shape, kind, float(ratio[worst]),
                      tuple(int(i) for i in worst), float(diff.max()),
                      float(rel.max()) if resolved.any() else float("nan"),
                      int(ulp.max()), unbounded=unbounded, ulp_allowed=allowed, **level2)


def _failed(name, shape, kind, note) -> Comparison:
    return Comparison(name, tuple(shape), kind, float("inf"), None, float("inf"),
                      float("inf"), 0, note=note)


def skipped(name: str, shape, kind: str, why: str) -> Comparison:
    return Comparison(name, tuple(shape), kind, 0.0, None, 0.0, 0.0, 0, skipped=why)


# --- Amplification -------------------------------------------------------------------------

def rounding_perturbation(delta: float, seed: int = 0):
    """perturb(params, update_bounds) for `bounds.train`: adds delta * s * E to every
    parameter after every update, E being that update's own rounding bound and s random
    signs (numpy.random.default_rng(seed), a fresh draw per call): rounding, magnified
    delta / u times. Frozen parameters (E = 0) stay exact, as they do in every
    implementation."""
    rng = np.random.default_rng(seed)

    def perturb(params, update_bounds):
        sizes = [v.size for v in params.values()]
        signs = np.where(rng.random(sum(sizes)) < 0.5, -delta, delta)  # one draw per update
        out, i = {}, 0
        for (k, v), n in zip(params.items(), sizes):
            R = update_bounds[k]
            if not np.all(np.isfinite(R)):
                R = np.where(np.isfinite(R), R, 0.0)
            out[k] = v + signs[i:i + n].reshape(v.shape) * R
            i += n
        return out
    return perturb


def first_nonfinite(losses, dtype: str = "float64") -> int | None:
    """The first update whose loss is not finite in `dtype` (the run diverged there)."""
    with np.errstate(over="ignore"):
        bad = ~np.isfinite(np.asarray(losses, dtype=np.float64).astype(dtype))
    return int(np.argmax(bad)) if bad.any() else None


@dataclasses.dataclass
class Amplification:
    """kappa and the reference's bounds of one run (see `amplification`)."""

    kappa: float
    bounds: dict           # TrainResult.bounds of the reference (bounds.py)
    diverged_at: int | None

    @property
    def flip_at(self) -> int | None:
        """The first update with a discontinuous decision (relu', leaky_relu') within
        (1 + kappa) times its rounding bound of its threshold, or None."""
        m = np.asarray(self.bounds["margins"])
        near = m <= 1.0 + self.kappa
        return int(np.argmax(near)) if near.any() else None


def amplification(case, base, compare_dtype: str = "float64",
                  delta: float = AMPLIFICATION_DELTA) -> Amplification:
    """kappa: how much the run magnifies rounding, in units of each value's own bound.

    `case` is the oracle's case (float64) and `base` its plain reference result. The run is
    repeated on `bounds.Traced` arrays, which gives every value's bound E, with
    each update's output perturbed by delta times its own rounding bound (random signs,
    seed 0): per-update rounding, magnified. kappa is the largest response of the trajectory,
    the final parameters and the final outputs, |perturbed - base| / (delta * E), over the
    elements with E > 0 (E = 0 means computed exactly, which stays exact). A run that does
    not stay finite is measured over its finite prefix; if the perturbed run leaves the finite
    range at another update, kappa is infinite.
    """
    with np.errstate(all="ignore"), bounds.context(compare_dtype):
        noisy = bounds.train(case, perturb=rounding_perturbation(delta))
    E = noisy.bounds
    # diverged in the dtype compared: a float32 run leaves the float range where its float64
    # oracle's loss passes float32's largest number, not where float64's does
    k_base = first_nonfinite(base.losses, compare_dtype)
    k_noisy = first_nonfinite(noisy.losses, compare_dtype)
    if k_base != k_noisy:
        return Amplification(float("inf"), E, k_base)
    n = len(base.losses) if k_base is None else k_base
    flips = np.flatnonzero(np.asarray(E["margins"]) <= 1.0)
    if flips.size:
        n = min(n, int(flips[0]) + 1)  # the loss before the update that may flip
    if E.get("horizon") is not None:
        n = min(n, E["horizon"] + 1)
    pairs = [(noisy.losses[:n], base.losses[:n], E["losses"][:n])]
    if k_base is None and not flips.size and E.get("horizon") is None:
        pairs += [(noisy.final_params[k], base.final_params[k], E["final_params"][k])
                  for k in base.final_params]
        pairs.append((noisy.final_outputs, base.final_outputs, E["final_outputs"]))
        pairs += [(noisy.final_state[s][k], base.final_state[s][k], U)
                  for s, units in (E.get("final_state") or {}).items() for k, U in units.items()]
    kappa = 0.0
    with np.errstate(all="ignore"):
        for x, y, e in pairs:
            r = np.abs(np.asarray(x, np.float64) - y) / (delta * e)
            r = r[(e > 0) & np.isfinite(r)]
            if r.size:
                kappa = max(kappa, float(r.max()))
        # The floor: every update's rounding stays in its parameter (W - lr dW carries W with
        # gain 1), and independent roundings add like a random walk, sqrt(sum R^2) (an
        # optimizer's run adds them linearly: bounds._train_beyond_sgd). Random
        # signs can cancel in the measured response of a short run: the nightly campaign found
        # a 2-update float32 run measured at kappa 0.0025 whose final W1 differed by 1.49 U.
        for k, c in E.get("carried", {}).items():
            U, c = np.asarray(E["final_params"][k]), np.asarray(c)
            ok = (U > 0) & np.isfinite(U) & np.isfinite(c)  # inf: an element not judged
            if ok.any():
                kappa = max(kappa, float((c[ok] / U[ok]).max()))
    return Amplification(kappa, E, k_base)


# --- Comparing two runs ----------------------------------------------------------------------

def gamma(case, u: float) -> float:
    """1 / (1 - n u), n the longest sum of the run (widest layer or batch, plus the bias):
    the factor from first-order bounds to rigorous ones (Higham's gamma_n)."""
    n = max(max(case.layers), case.m) + 1
    return 1.0 / (1.0 - n * u)


def pair_bounds(amp: Amplification, case, dtype_a: str, dtype_b: str) -> dict:
    """The allowed |a - b| of every element, as compare_results applies it, for a pair of
    dtypes: (u_a + u_b) gamma E at step 0, (u_a + u_b) gamma (1 + kappa) U for the
    trajectory and the final state (what the golden files give per tensor)."""
    E = amp.bounds
    u = UNIT_ROUNDOFF[dtype_a] + UNIT_ROUNDOFF[dtype_b]
    scale0 = u * gamma(case, max(UNIT_ROUNDOFF[dtype_a], UNIT_ROUNDOFF[dtype_b]))
    scale = scale0 * (1.0 + amp.kappa)
    return {"gradients": {k: scale0 * np.asarray(v) for k, v in E["gradients"].items()},
            "initial_outputs": scale0 * np.asarray(E["initial_outputs"]),
            "losses": scale * np.asarray(E["losses"]),
            "final_params": {k: scale * np.asarray(v) for k, v in E["final_params"].items()},
            "final_outputs": scale * np.asarray(E["final_outputs"]),
            "final_state": {s: {k: scale * np.asarray(v) for k, v in units.items()}
                            for s, units in (E.get("final_state") or {}).items()}}


def probabilistic_bounds(amp: Amplification, case, dtype_a: str, dtype_b: str):
    """({value: the probabilistic bound of each element}, p) for a pair of dtypes:
    (u_a + u_b) gamma S + J (noise.py), or ({}, None) where the oracle has none."""
    level = amp.bounds.get("probabilistic")
    if not level:
        return {}, None
    u = UNIT_ROUNDOFF[dtype_a] + UNIT_ROUNDOFF[dtype_b]
    scale = u * gamma(case, max(UNIT_ROUNDOFF[dtype_a], UNIT_ROUNDOFF[dtype_b]))
    return {k: scale * S + level["J"][k] for k, S in level["S"].items()}, level["p"]


def _decision(case) -> str:
    """What may flip in a trajectory: a kink's decision, or under a reduced-precision policy
    also a rounding to its low dtype (bounds.Traced.rounded_to)."""
    if case is not None and case.precision is not None:
        return (f"under a reduced-precision policy, a rounding to {case.precision['compute']} "
                "(of the master weights, which two correct runs hold apart by rounding, or of "
                "any value near a boundary)")
    return "a relu'/leaky_relu' decision"


def compare_results(a, b, amp: Amplification, dtype_a: str, dtype_b: str, case,
                    prefix: str = "") -> list[Comparison]:
    """Compare two TrainResults of `case` against the reference's bounds `amp.bounds`: every
    gradient at step 0 and the initial outputs at (u_a + u_b) gamma E; the loss trajectory,
    the final parameters and the final outputs at (u_a + u_b) gamma (1 + kappa) E.

    Divergence: a run whose loss leaves the finite range (of its dtype) diverged at that
    update. Once the oracle's values come within reach of the float range (`edge`), whether a
    sum overflows depends on the order of its terms: runs that both diverge from there on are
    compared on the prefix before it. Two runs that diverge at different updates disagree if
    the earlier one diverged before the edge; at the same update, their finite prefixes are
    compared; either way the final state is not judged. Trajectories of runs with
    kappa > KAPPA_MAX are not judged (they magnify rounding beyond any useful bound).
    """
    E = amp.bounds
    B = pair_bounds(amp, case, dtype_a, dtype_b)
    P, p = probabilistic_bounds(amp, case, dtype_a, dtype_b)
    low = dtype_a if UNIT_ROUNDOFF[dtype_a] >= UNIT_ROUNDOFF[dtype_b] else dtype_b
    if E.get("initial_reach") is not None and beyond_reach(E["initial_reach"], case, low):
        why = ("the step-0 values reach the edge of the float range: whether a sum overflows "
               "depends on the order of its terms")
        rows = [skipped(f"{prefix}d{k}", np.shape(b.gradients[k]), STEP0, why)
                for k in b.gradients]
        rows.append(skipped(f"{prefix}initial A[L]", np.shape(b.initial_outputs), STEP0, why))
    else:
        rows = _step0_rows(a, b, B, P, p, dtype_a, prefix)
    finals = [(f"{prefix}final {k}", k) for k in b.final_params] + [(f"{prefix}final A[L]", None)]
    finals += [(f"{prefix}final {s}[{k}]", (s, k)) for s in B["final_state"]
               for k in B["final_state"][s]]
    k_a, k_b = first_nonfinite(a.losses, low), first_nonfinite(b.losses, low)
    h = edge(E["losses"], case, low, b.losses, E.get("reach"))
    cut_reason = None
    if h is not None and (k_a, k_b) != (None, None) and all(k is None or k >= h
                                                            for k in (k_a, k_b)):
        cut_reason = (f"the values reach the edge of the float range at update {h}: whether "
                      "a sum overflows from there depends on the order of its terms")
        k_a = k_b = h  # compare what comes before the edge
    if k_a != k_b:
        desc = lambda k: "stays finite" if k is None else f"diverged at update {k}"  # noqa: E731
        rows.append(_failed(f"{prefix}losses", np.shape(b.losses), TRAJECTORY,
                            f"{desc(k_a)}, the other side {desc(k_b)}"))
        rows += [skipped(name, np.shape(_final(b, k)), TRAJECTORY, "runs diverged")
                 for name, k in finals]
        return rows
    if not np.isfinite(amp.kappa) or amp.kappa > KAPPA_MAX[low]:
        why = (f"kappa = {amp.kappa:.3g} > {KAPPA_MAX[low]:.0f} ({low}): the run magnifies "
               "rounding beyond what a bound can judge")
        rows.append(skipped(f"{prefix}losses", np.shape(b.losses), TRAJECTORY, why))
        rows += [skipped(name, np.shape(_final(b, k)), TRAJECTORY, why) for name, k in finals]
        return rows
    n = len(b.losses) if k_b is None else k_b
    flip = amp.flip_at
    if flip is not None and flip + 1 < n:
        n = flip + 1  # the loss of that update is computed before its decision
    horizon = E.get("horizon")
    if horizon is not None and horizon + 1 < n:
        n = horizon + 1
    name = f"{prefix}losses" + ("" if n == len(b.losses) else f"[:{n}]")
    if np.shape(a.losses) != np.shape(b.losses):
        rows.append(_failed(name, np.shape(b.losses), TRAJECTORY,
                            f"shape {np.shape(a.losses)}, expected {np.shape(b.losses)}"))
    else:
        pl = P.get("losses")
        rows.append(compare(name, np.asarray(a.losses)[:n], b.losses[:n],
                            B["losses"][:n], TRAJECTORY, dtype_a,
                            pbound=None if pl is None else pl[:n], p=p))
    want = getattr(b, "final_state", None)
    if want is not None:  # the step count positions the schedule and the bias corrections
        got = getattr(a, "final_state", None)
        step = got.get("step") if isinstance(got, dict) else None
        rows.append(compare(f"{prefix}final step", np.float64(step),
                            np.float64(want["step"]), 0.0, TRAJECTORY) if step == want["step"]
                    else _failed(f"{prefix}final step", (), TRAJECTORY,
                                 f"the optimizer's step count is {step}, expected "
                                 f"{want['step']}"))
    for name, k in finals:
        if k_b is not None:
            rows.append(skipped(name, np.shape(_final(b, k)), TRAJECTORY,
                                cut_reason or f"both runs diverged at update {k_b}"))
        elif flip is not None and flip + 1 < len(b.losses):
            rows.append(skipped(name, np.shape(_final(b, k)), TRAJECTORY,
                                f"{_decision(case)} of update {flip} lies within "
                                "(1 + kappa) rounding bounds of its threshold: two correct "
                                "runs may differ by that flip from there on"))
        elif horizon is not None:
            rows.append(skipped(name, np.shape(_final(b, k)), TRAJECTORY,
                                f"from update {horizon} an update's rounding bound is as large "
                                "as the parameters themselves: nothing is left to judge"))
        elif k is None:
            rows.append(compare(name, a.final_outputs, b.final_outputs,
                                B["final_outputs"], TRAJECTORY, dtype_a))
        elif isinstance(k, tuple):  # a slot of the optimizer's state
            s, p_name = k
            got = getattr(a, "final_state", None)
            got = got.get(s, {}).get(p_name) if isinstance(got, dict) else None
            rows.append(compare(name, got, b.final_state[s][p_name],
                                B["final_state"][s][p_name], TRAJECTORY, dtype_a,
                                pbound=P.get(f"final {s}[{p_name}]"), p=p))
        else:
            rows.append(compare(name, a.final_params.get(k) if isinstance(a.final_params, dict)
                                else None, b.final_params[k], B["final_params"][k],
                                TRAJECTORY, dtype_a, pbound=P.get(f"final {k}"), p=p))
    return rows


def _step0_rows(a, b, B, P, p, dtype_a, prefix):
    """The step-0 gradients and A[L] of `a` against `b`'s."""
    rows = [compare(f"{prefix}d{k}", a.gradients.get(k) if isinstance(a.gradients, dict)
                    else None, b.gradients[k], B["gradients"][k], dtype=dtype_a,
                    pbound=P.get(f"d{k}"), p=p)
            for k in b.gradients]
    rows.append(compare(f"{prefix}initial A[L]", a.initial_outputs, b.initial_outputs,
                        B["initial_outputs"], dtype=dtype_a, pbound=P.get("initial A[L]"), p=p))
    return rows


def edge(loss_units, case, dtype: str, losses=None, reach=None) -> int | None:
    """The first update at which the oracle's loss unit (~ n times the magnitude of the terms
    summed) is not finite or comes within n of the dtype's largest number, or None: from there
    on, overflow depends on the order of summation. With the oracle's `losses`, a unit that is
    inf while the loss itself lies far from the float range (below sqrt of its largest number)
    is not the edge: it is a bound with no statement (an Adam denominator with no digit left at
    the worst-case level, bounds.NO_DIGIT), and a run that diverges there has diverged where
    the oracle did not. With `reach` (bounds.train's, per update: the largest bound of any
    sum the update computes, a hidden layer's or a gradient's), the first update whose reach
    comes within n of the largest number is the edge too: a hidden layer can overflow while
    the loss stays far from it."""
    top = float(np.finfo(dtype).max)
    units = np.asarray(loss_units, dtype=np.float64)
    near = beyond_reach(units, case, dtype)
    with np.errstate(invalid="ignore"):
        if losses is not None:
            values = np.abs(np.asarray(losses, dtype=np.float64))[:units.size]
            near[:values.size] &= ~(np.isinf(units[:values.size])
                                    & (values <= math.sqrt(top)))
        if reach is not None:
            r = np.asarray(reach, dtype=np.float64)[:units.size]
            near[:r.size] |= beyond_reach(r, case, dtype)
    return int(np.argmax(near)) if near.any() else None


def beyond_reach(reach, case, dtype: str):
    """Whether a reach (bounds.Context._note_reach: ~ n times the magnitude of a sum's terms)
    comes within n of the dtype's largest number (or is not finite): whether the sum
    overflows depends on the order of its terms."""
    n = max(max(case.layers), case.m) + 1
    with np.errstate(invalid="ignore"):
        return ~(np.asarray(reach, dtype=np.float64) <= float(np.finfo(dtype).max) / n)


def loss_bounds(amp: Amplification, case, dtype_a: str, dtype_b: str) -> np.ndarray:
    """The bound of every step's loss for a pair of dtypes (as compare_results applies it)."""
    return pair_bounds(amp, case, dtype_a, dtype_b)["losses"]


def _final(result, k):
    if isinstance(k, tuple):
        return result.final_state[k[0]][k[1]]
    return result.final_outputs if k is None else result.final_params[k]


def assert_all_close(rows: list[Comparison], context: str = "") -> None:
    """Raise AssertionError listing every tensor (failed ones marked) if any fails."""
    if all(r.ok or r.skipped for r in rows):
        return
    lines = "\n".join(("  " if r.ok or r.skipped else "! ") + r.line() for r in rows)
    raise AssertionError(f"{context}: parity failed\n{lines}")
