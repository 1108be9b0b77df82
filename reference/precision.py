"""Reduced precision: where a run rounds to bfloat16 or float16 (docs/SPEC.md, "Reduced
precision"; the policy's fields: comparisons/protocol/case.py, PRECISION_FIELDS).

The reference computes in the case's dtype and rounds exactly where the policy says, each
rounding correct (to nearest, ties to even) from the value it computed, never through another
dtype: NumPy's float64 -> bfloat16 (ml_dtypes) goes through float32, a double rounding that
`round_to` corrects. In the float64 run (the oracle) that makes every value between two
roundings exact to float64 and every rounding the policy's own; a float32 run sums its
products in float32, the policy's accumulation.

The policy in force is the case's, set by `policy` around a run (training.train, and the judge
around its traced runs); without one every function here returns its argument.
"""

import contextlib
import contextvars

import ml_dtypes
import numpy as np

_POLICY = contextvars.ContextVar("precision", default=None)
LOW = {"bfloat16": np.dtype(ml_dtypes.bfloat16), "float16": np.dtype(np.float16)}


@contextlib.contextmanager
def policy(precision):
    """Round as the policy `precision` says (a case's `precision`, or None for none) within."""
    token = _POLICY.set(precision)
    try:
        yield
    finally:
        _POLICY.reset(token)


def current():
    """The policy in force, or None."""
    return _POLICY.get()


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
        return np.where(np.isfinite(v), fixed, v)


def to_compute(x):
    """x in the compute dtype: fl_c(x). The operands and result of every matrix product, and
    the hidden layers' Z[l], A[l], dA[l], dZ[l]."""
    p = _POLICY.get()
    return x if p is None else round_to(x, p["compute"])


def to_output(x):
    """x in the output dtype: the output layer's A[L], the loss and dZ[L] (unchanged where it
    is the case's dtype)."""
    p = _POLICY.get()
    return x if p is None or p["output"] not in LOW else round_to(x, p["output"])


def to_params(x):
    """A parameter after its update, in the params dtype (unchanged where the master weights
    stay in the case's dtype)."""
    p = _POLICY.get()
    return x if p is None or p["params"] not in LOW else round_to(x, p["params"])
