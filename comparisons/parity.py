"""One comparer for every parity check: max abs, max rel and max ULP distance per tensor.

A tensor `a` agrees with `b` when, element-wise,

    |a - b| <= rtol * (max(|a|, |b|) + scale),     scale = max over the tensor of |b|,

that is, relative to each element, with a floor relative to the tensor's own magnitude: a
gradient entry that is a sum of terms cancelling to nearly zero carries rounding error of the
size of its terms, not of its result. The policy that sets `rtol` lives in TOLERANCES.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np

EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps)}

# rtol = 2^8 eps of the dtype under test; the argument is in TOLERANCES.md. Between two
# float64 implementations, and between a float32 implementation and the float64 reference.
RTOL = {dtype: 256 * eps for dtype, eps in EPS.items()}


@dataclasses.dataclass(frozen=True)
class Comparison:
    name: str
    max_abs: float
    max_rel: float
    max_ulp: int
    worst_ratio: float  # max of |a-b| / (rtol * (max(|a|,|b|) + scale)); <= 1 passes
    rtol: float
    shape: tuple

    @property
    def ok(self) -> bool:
        return self.worst_ratio <= 1.0

    def line(self) -> str:
        verdict = "ok" if self.ok else "FAIL"
        return (f"{self.name:<18} {str(self.shape):<12} max abs {self.max_abs:.3e}  "
                f"max rel {self.max_rel:.3e}  max ULP {self.max_ulp:<8d} "
                f"rtol {self.rtol:.1e}  {verdict}")


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


def compare(name: str, a, b, rtol: float) -> Comparison:
    """Compare `a` (under test) with `b` (the reference side) under `rtol`."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise AssertionError(f"{name}: shape {a.shape} != {b.shape}")
    if a.size == 0:
        return Comparison(name, 0.0, 0.0, 0, 0.0, rtol, a.shape)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return Comparison(name, float("inf"), float("inf"), 2**63, float("inf"), rtol, a.shape)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(a64 - b64)
    mag = np.maximum(np.abs(a64), np.abs(b64))
    scale = float(np.max(np.abs(b64)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(mag > 0, diff / mag, 0.0)
        bound = rtol * (mag + scale)
        ratio = np.where(diff > 0, diff / np.where(bound > 0, bound, np.inf), 0.0)
    ulp = ulp_distance(a, b) if a.dtype == b.dtype else ulp_distance(a64, b64)
    return Comparison(name, float(diff.max()), float(rel.max()), int(ulp.max()),
                      float(ratio.max()), rtol, a.shape)


AMPLIFICATION_DELTA = 2.0 ** -30


def relative_perturbation(delta, seed=0):
    """A function that multiplies every parameter by (1 ± delta), random signs from
    numpy.random.default_rng(seed), a fresh draw per call (`reference.train(perturb=...)`)."""
    rng = np.random.default_rng(seed)

    def perturb(params):
        return {k: v * (1 + delta * (2.0 * rng.integers(0, 2, size=v.shape) - 1.0))
                for k, v in params.items()}
    return perturb


def amplification(case, delta: float = AMPLIFICATION_DELTA, reference_result=None) -> float:
    """kappa: how much the training run magnifies a relative perturbation made at any step,
    measured with the float64 reference.

    Rounding perturbs every step's parameters by a relative ~eps; this repeats the run with a
    perturbation of relative size delta after every update (and of the initial parameters),
    random signs, seed 0, and takes the largest change of the trajectory, final parameters
    and final outputs, in the comparer's units (|difference| / (|value| + tensor scale)),
    per unit delta. delta = 2^-30 sits far above rounding (2^-52) and far below the scale
    where the run stops being linear, for kappa up to ~1e6. Perturbing only the initial
    parameters would miss runs whose late steps magnify what their early steps damp.
    Infinite when the run does not stay finite.
    """
    from reference import train
    case = case.replace(dtype="float64")
    with np.errstate(all="ignore"):
        base = reference_result if reference_result is not None else train(case)
        noisy = train(case, perturb=relative_perturbation(delta))
    rows = [r for r in compare_results(noisy, base, 1.0) if _trained(r.name)]
    return max(r.worst_ratio for r in rows) / delta


def _trained(name: str) -> bool:
    """Rows whose values come out of training (not step 0)."""
    return name == "losses" or name.startswith("final")


def compare_results(a, b, rtol: float, prefix: str = "", kappa: float = 1.0) -> list[Comparison]:
    """Compare two TrainResults: every gradient at step 0 and the initial outputs at rtol;
    the loss trajectory, the final parameters and the final outputs at rtol * max(1, kappa),
    kappa being the run's measured `amplification`."""
    rt = rtol * max(1.0, kappa)
    rows = [compare(f"{prefix}d{k}", a.gradients[k], b.gradients[k], rtol) for k in b.gradients]
    rows.append(compare(f"{prefix}losses", a.losses, b.losses, rt))
    rows += [compare(f"{prefix}final {k}", a.final_params[k], b.final_params[k], rt)
             for k in b.final_params]
    rows.append(compare(f"{prefix}final A[L]", a.final_outputs, b.final_outputs, rt))
    rows.append(compare(f"{prefix}initial A[L]", a.initial_outputs, b.initial_outputs, rtol))
    return rows


def assert_all_close(rows: list[Comparison], context: str = "") -> None:
    """Raise AssertionError listing every tensor (failed ones marked) if any fails."""
    if all(r.ok for r in rows):
        return
    lines = "\n".join(("  " if r.ok else "! ") + r.line() for r in rows)
    raise AssertionError(f"{context}: parity failed\n{lines}")
