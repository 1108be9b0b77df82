"""Reduced precision: where a run rounds to bfloat16 or float16 (docs/SPEC.md, "Reduced
precision"; the policy's fields: comparisons/protocol/case.py, PRECISION_FIELDS).

The reference computes in the case's dtype and rounds exactly where the policy says, each
rounding correct (to nearest, ties to even) from the value it computed, never through another
dtype: NumPy's float64 -> bfloat16 (ml_dtypes) goes through float32, a double rounding that
`round_to` corrects. In the float64 run (the oracle) that makes every value between two
roundings exact to float64 and every rounding the policy's own; a float32 run sums its
products in float32, the policy's accumulation.

The policy in force is the case's, set by `policy` around a run (training.train, and the judge
around its traced runs); without one every point returns its argument. The points are
comparisons/protocol/rounding.py's, shared with every package that runs a policy: only
`round_to` is this package's own.
"""

import ml_dtypes
import numpy as np

from comparisons.protocol.rounding import current, points, policy

LOW = {"bfloat16": np.dtype(ml_dtypes.bfloat16), "float16": np.dtype(np.float16)}


def round_to(x, dtype):
    """fl_dtype(x): x rounded to nearest (ties to even) in `dtype` ("bfloat16", "float16"),
    kept in x's own dtype. A value of the judge's that carries a bound rounds itself
    (`rounded_to`: comparisons/judge/bounds.py, noise.py)."""
    if hasattr(x, "rounded_to"):
        return x.rounded_to(dtype)
    x = np.asarray(x)
    low = LOW[dtype]
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the range: inf, as it should
        r = x.astype(low)
        if x.dtype != np.float64:
            return r.astype(x.dtype)
        # through float32: put right the values it double-rounded (finite ones only: a value
        # that overflowed did so in either rounding)
        v = r.astype(np.float64)
        up = np.nextafter(r, np.asarray(np.inf, dtype=low)).astype(np.float64)
        down = np.nextafter(r, np.asarray(-np.inf, dtype=low)).astype(np.float64)
        fixed = np.where(x > (v + up) / 2, up, np.where(x < (v + down) / 2, down, v))
        # a finite x that float32 carried past the overflow threshold (the midpoint between
        # the largest low value and the next power of two, a tie that rounds to inf)
        big = float(np.finfo(low).max) if low != LOW["bfloat16"] else float(
            ml_dtypes.finfo(low).max)
        edge = (big + 2.0 ** (np.frexp(big)[1])) / 2
        kept = np.isinf(v) & np.isfinite(x) & (np.abs(x) < edge)
        return np.where(kept, np.sign(x) * big, np.where(np.isfinite(v), fixed, v))


# to_compute: the operands and result of every matrix product and the hidden layers' Z[l],
# A[l], dA[l], dZ[l]; to_output: A[L], the loss and dZ[L]; to_params: a parameter after its
# update (comparisons/protocol/rounding.py)
to_compute, to_output, to_params = points(round_to)
__all__ = ["LOW", "current", "policy", "round_to", "to_compute", "to_output", "to_params"]
