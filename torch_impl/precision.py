"""Reduced precision by explicit casts: `.to(torch.bfloat16)` (or float16) and back, exactly
where reference/precision.py rounds (docs/SPEC.md, "Reduced precision"). Between two casts
torch computes in the case's dtype; autograd takes every cast's gradient through the same
round trip, so the backward pass rounds where the reference's does, without being told.
"""

import torch

from comparisons.protocol.rounding import current, points, policy

LOW = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def round_to(x, dtype):
    """x rounded to nearest (ties to even) in `dtype` and kept in x's own dtype: a cast down
    and back, each a differentiable torch op."""
    return x.to(LOW[dtype]).to(x.dtype)


to_compute, to_output, to_params = points(round_to)  # where the reference rounds
__all__ = ["LOW", "current", "policy", "round_to", "to_compute", "to_output", "to_params"]
