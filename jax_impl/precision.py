"""Reduced precision by explicit casts: `x.astype(jnp.bfloat16)` (or float16) and back, exactly
where reference/precision.py rounds (docs/SPEC.md, "Reduced precision"). Between two casts JAX
computes in the case's dtype; the VJP of a cast down and back rounds the cotangent the same
way, so the backward pass rounds where the reference's does. The policy is read while a
program is traced: training.py makes it part of jit's cache key.
"""

import contextlib
import contextvars

import jax.numpy as jnp

_POLICY = contextvars.ContextVar("precision", default=None)
LOW = {"bfloat16": jnp.bfloat16, "float16": jnp.float16}


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
    """x rounded to nearest (ties to even) in `dtype` and kept in x's own dtype."""
    return x.astype(LOW[dtype]).astype(x.dtype)


def to_compute(x):
    """x in the compute dtype."""
    p = _POLICY.get()
    return x if p is None else round_to(x, p["compute"])


def to_output(x):
    """x in the output dtype (unchanged where it is the case's dtype)."""
    p = _POLICY.get()
    return x if p is None or p["output"] not in LOW else round_to(x, p["output"])


def to_params(x):
    """A parameter after its update, in the params dtype (unchanged where the master weights
    stay in the case's dtype)."""
    p = _POLICY.get()
    return x if p is None or p["params"] not in LOW else round_to(x, p["params"])
