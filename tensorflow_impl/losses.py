"""Losses in TensorFlow ops; their derivatives from tf.GradientTape.

Same names, conventions and shapes as reference.losses: a per-sample loss over the n[L]
output units, then `sum` or `mean` over the m samples. bce and cce from logits use
TensorFlow's own kernels (sigmoid_cross_entropy_with_logits,
softmax_cross_entropy_with_logits).
"""

from .framework import logs_filtered

with logs_filtered():
    import tensorflow as tf

from .activations import vjp


def reduction_factor(reduction, m):
    """The factor of d(total)/d(per-sample loss): 1 for `sum`, 1/m for `mean`."""
    return 1.0 if reduction == "sum" else 1.0 / m


def reduce(per_sample, reduction):
    """sum_j L_j (`sum`) or sum_j L_j / m (`mean`)."""
    total = tf.reduce_sum(per_sample)
    return total if reduction == "sum" else total / tf.cast(tf.shape(per_sample)[0], total.dtype)


def half_sse(A, Y, reduction):
    """E = reduce_j( sum_i 1/2 (Y_ij - A_ij)^2 )."""
    D = Y - A
    return reduce(0.5 * tf.reduce_sum(D * D, axis=0), reduction)


def half_sse_derivative(A, Y, reduction):
    """dE/dA by tf.GradientTape."""
    return vjp(lambda a: half_sse(a, Y, reduction), A, None)


def mse(A, Y, reduction):
    """E = reduce_j( (1/n[L]) sum_i (Y_ij - A_ij)^2 )."""
    D = Y - A
    return reduce(tf.reduce_sum(D * D, axis=0) / A.shape[0], reduction)


def mse_derivative(A, Y, reduction):
    """dE/dA by tf.GradientTape."""
    return vjp(lambda a: mse(a, Y, reduction), A, None)


def bce(A, Y, reduction):
    """Binary cross-entropy from probabilities."""
    per_unit = -(Y * tf.math.log(A) + (1 - Y) * tf.math.log(1 - A))
    return reduce(tf.reduce_sum(per_unit, axis=0), reduction)


def softplus(Z):
    """softplus(Z) = log(1 + exp(Z)), tf.math.softplus."""
    return tf.math.softplus(Z)


def bce_from_logits(Z, Y, reduction):
    """bce of sigmoid(Z), by TensorFlow's sigmoid_cross_entropy_with_logits."""
    per_unit = tf.nn.sigmoid_cross_entropy_with_logits(labels=Y, logits=Z)
    return reduce(tf.reduce_sum(per_unit, axis=0), reduction)


def bce_derivative(A, Y, reduction):
    """dE/dA by tf.GradientTape."""
    return vjp(lambda a: bce(a, Y, reduction), A, None)


def cce(A, Y, reduction):
    """Multi-class cross-entropy from probabilities."""
    return reduce(-tf.reduce_sum(Y * tf.math.log(A), axis=0), reduction)


def cce_from_logits(Z, Y, reduction):
    """cce of softmax(Z), by TensorFlow's softmax_cross_entropy_with_logits over each column."""
    return reduce(tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=Z, axis=0), reduction)


def cce_derivative(A, Y, reduction):
    """dE/dA by tf.GradientTape."""
    return vjp(lambda a: cce(a, Y, reduction), A, None)


def fused_output_delta(ZL, Y, loss, reduction):
    """dZ[L] = d loss / d Z[L] for sigmoid + bce and softmax + cce, by tf.GradientTape
    through the loss-from-logits (the reference writes the closed form (A[L] - Y) * factor)."""
    from_logits = bce_from_logits if loss == "bce" else cce_from_logits
    return vjp(lambda z: from_logits(z, Y, reduction), ZL, None)
