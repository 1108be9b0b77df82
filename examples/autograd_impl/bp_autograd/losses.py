"""Losses in autograd.numpy; their derivatives from autograd.make_vjp."""

import autograd.numpy as anp
from autograd.scipy.special import logsumexp

from .activations import sigmoid, softmax, vjp  # noqa: F401


def reduction_factor(reduction, m):
    return 1.0 if reduction == "sum" else 1.0 / m


def reduce(per_sample, reduction):
    total = anp.sum(per_sample)
    return total if reduction == "sum" else total / per_sample.shape[0]


def half_sse(A, Y, reduction):
    D = Y - A
    return reduce(0.5 * anp.sum(D * D, axis=0), reduction)


def half_sse_derivative(A, Y, reduction):
    return vjp(lambda a: half_sse(a, Y, reduction), A, None)


def mse(A, Y, reduction):
    D = Y - A
    return reduce(anp.sum(D * D, axis=0) / A.shape[0], reduction)


def mse_derivative(A, Y, reduction):
    return vjp(lambda a: mse(a, Y, reduction), A, None)


def bce(A, Y, reduction):
    return reduce(-anp.sum(Y * anp.log(A) + (1 - Y) * anp.log(1 - A), axis=0), reduction)


def softplus(Z):
    """log(1 + exp(Z)) = logaddexp(0, Z)."""
    return anp.logaddexp(0.0, Z)


def bce_from_logits(Z, Y, reduction):
    return reduce(anp.sum(Y * softplus(-Z) + (1 - Y) * softplus(Z), axis=0), reduction)


def bce_derivative(A, Y, reduction):
    return vjp(lambda a: bce(a, Y, reduction), A, None)


def cce(A, Y, reduction):
    return reduce(-anp.sum(Y * anp.log(A), axis=0), reduction)


def cce_from_logits(Z, Y, reduction):
    log_A = Z - logsumexp(Z, axis=0, keepdims=True)
    return reduce(-anp.sum(Y * log_A, axis=0), reduction)


def cce_derivative(A, Y, reduction):
    return vjp(lambda a: cce(a, Y, reduction), A, None)


def fused_output_delta(ZL, Y, loss, reduction):
    from_logits = bce_from_logits if loss == "bce" else cce_from_logits
    return vjp(lambda z: from_logits(z, Y, reduction), ZL, None)
