"""Losses in paddle ops; their derivatives from paddle.grad.

Same names, conventions and shapes as reference.losses: a per-sample loss over the n[L]
output units, then `sum` or `mean` over the m samples. bce and cce from logits use Paddle's
own kernels (binary_cross_entropy_with_logits; cross_entropy with soft labels and softmax).
"""

from .framework import quiet_import

with quiet_import():
    import paddle
import paddle.nn.functional as F

from .activations import vjp


def reduction_factor(reduction, m):
    """The factor of d(total)/d(per-sample loss): 1 for `sum`, 1/m for `mean`."""
    return 1.0 if reduction == "sum" else 1.0 / m


def reduce(per_sample, reduction):
    """sum_j L_j (`sum`) or sum_j L_j / m (`mean`)."""
    total = per_sample.sum()
    return total if reduction == "sum" else total / per_sample.shape[0]


def half_sse(A, Y, reduction):
    """E = reduce_j( sum_i 1/2 (Y_ij - A_ij)^2 )."""
    D = Y - A
    return reduce(0.5 * (D * D).sum(axis=0), reduction)


def half_sse_derivative(A, Y, reduction):
    """dE/dA by autograd."""
    return vjp(lambda a: half_sse(a, Y, reduction), A, None)


def mse(A, Y, reduction):
    """E = reduce_j( (1/n[L]) sum_i (Y_ij - A_ij)^2 )."""
    D = Y - A
    return reduce((D * D).sum(axis=0) / A.shape[0], reduction)


def mse_derivative(A, Y, reduction):
    """dE/dA by autograd."""
    return vjp(lambda a: mse(a, Y, reduction), A, None)


def bce(A, Y, reduction):
    """Binary cross-entropy from probabilities."""
    return reduce(-(Y * paddle.log(A) + (1 - Y) * paddle.log(1 - A)).sum(axis=0), reduction)


def softplus(Z):
    """softplus(Z) = log(1 + exp(Z)), Paddle's kernel. Its default threshold=20 returns Z
    above 20, dropping exp(-20) ~ 2e-9, far above float64 rounding; above 40 what is dropped
    is below it."""
    return F.softplus(Z, threshold=40.0)


def bce_from_logits(Z, Y, reduction):
    """bce of sigmoid(Z), by Paddle's binary_cross_entropy_with_logits."""
    per_unit = F.binary_cross_entropy_with_logits(Z, Y, reduction="none")
    return reduce(per_unit.sum(axis=0), reduction)


def bce_derivative(A, Y, reduction):
    """dE/dA by autograd."""
    return vjp(lambda a: bce(a, Y, reduction), A, None)


def cce(A, Y, reduction):
    """Multi-class cross-entropy from probabilities."""
    return reduce(-(Y * paddle.log(A)).sum(axis=0), reduction)


def cce_from_logits(Z, Y, reduction):
    """cce of softmax(Z), by Paddle's cross_entropy (soft labels, softmax over the units)."""
    per_sample = F.cross_entropy(Z, Y, soft_label=True, axis=0, reduction="none")
    return reduce(per_sample.reshape([-1]), reduction)


def cce_derivative(A, Y, reduction):
    """dE/dA by autograd."""
    return vjp(lambda a: cce(a, Y, reduction), A, None)


def fused_output_delta(ZL, Y, loss, reduction):
    """dZ[L] = d loss / d Z[L] for sigmoid + bce and softmax + cce, by autograd through the
    loss-from-logits (the reference writes the closed form (A[L] - Y) * factor)."""
    from_logits = bce_from_logits if loss == "bce" else cce_from_logits
    return vjp(lambda z: from_logits(z, Y, reduction), ZL, None)
