"""Where a run rounds under a reduced-precision policy (docs/SPEC.md, "Reduced precision"):
the policy in force and the three points that read it, shared by every package that runs one.
Each package brings only its own `round_to(x, dtype)` (NumPy with ml_dtypes, a torch cast
down and back, jax's astype, tf.cast) and takes its points from `points`, so that the packages
differ in how they round and in nothing else.
"""

from __future__ import annotations

import contextlib
import contextvars

from .case import LOW_DTYPES

_POLICY: contextvars.ContextVar[dict | None] = contextvars.ContextVar("precision", default=None)


@contextlib.contextmanager
def policy(precision: dict | None):
    """Round as the policy `precision` says (a case's `precision`, or None for none) within."""
    token = _POLICY.set(precision)
    try:
        yield
    finally:
        _POLICY.reset(token)


def current() -> dict | None:
    """The policy in force, or None."""
    return _POLICY.get()


def points(round_to):
    """(to_compute, to_output, to_params) rounding with `round_to(x, dtype)` where the policy
    in force says, and returning x itself without one:
    - to_compute: the compute dtype, for the operands and result of every matrix product and
      the hidden layers' Z[l], A[l], dA[l], dZ[l];
    - to_output: the output dtype, for A[L], the loss and dZ[L] (unchanged where it is the
      master dtype);
    - to_params: the params dtype, for a parameter after its update (likewise)."""
    def to_compute(x):
        p = _POLICY.get()
        return x if p is None else round_to(x, p["compute"])

    def to_output(x):
        p = _POLICY.get()
        return x if p is None or p["output"] not in LOW_DTYPES else round_to(x, p["output"])

    def to_params(x):
        p = _POLICY.get()
        return x if p is None or p["params"] not in LOW_DTYPES else round_to(x, p["params"])

    return to_compute, to_output, to_params
