"""Reduced precision by explicit casts: `x.astype(jnp.bfloat16)` (or float16) and back, exactly
where reference/precision.py rounds (docs/SPEC.md, "Reduced precision"). Between two casts JAX
computes in the case's dtype; the VJP of a cast down and back rounds the cotangent the same
way, so the backward pass rounds where the reference's does. The policy is read while a
program is traced: training.py makes it part of jit's cache key.
"""

import jax.numpy as jnp

from comparisons.protocol.rounding import current, points, policy

LOW = {"bfloat16": jnp.bfloat16, "float16": jnp.float16}


def round_to(x, dtype):
    """x rounded to nearest (ties to even) in `dtype` and kept in x's own dtype."""
    return x.astype(LOW[dtype]).astype(x.dtype)


to_compute, to_output, to_params = points(round_to)  # where the reference rounds
__all__ = ["LOW", "current", "policy", "round_to", "to_compute", "to_output", "to_params"]
