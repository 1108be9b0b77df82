"""Reduced precision by explicit casts: `tf.cast(x, tf.bfloat16)` (or float16) and back,
exactly where reference/precision.py rounds (docs/SPEC.md, "Reduced precision"). Between two
casts TensorFlow computes in the case's dtype; the gradient of a cast down and back rounds the
gradient the same way, so the backward pass rounds where the reference's does. The policy is
read while a tf.function is traced: training.py keys its compiled programs by it.
"""

from comparisons.protocol.rounding import current, points, policy

from .framework import logs_filtered

with logs_filtered():
    import tensorflow as tf

LOW = {"bfloat16": tf.bfloat16, "float16": tf.float16}


def round_to(x, dtype):
    """x rounded to nearest (ties to even) in `dtype` and kept in x's own dtype."""
    return tf.cast(tf.cast(x, LOW[dtype]), x.dtype)


to_compute, to_output, to_params = points(round_to)  # where the reference rounds
__all__ = ["LOW", "current", "policy", "round_to", "to_compute", "to_output", "to_params"]
