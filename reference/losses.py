"""Losses and their derivatives, by hand (seeds 000, 001, 002, 004).

Convention (docs/SPEC.md, "Losses and reductions"): a per-sample loss over the n[L] output units, then a reduction
over the m samples: `sum` (the total loss of seed 002) or `mean` (the cost J of seeds 000 and
004, J = (1/m) * sum). half_sse, bce and cce sum over the output units; mse averages over them.
A, Y, Z are (n[L], m); every loss returns a 0-d value of their dtype; every derivative
returns an (n[L], m) array that includes the reduction's factor.
"""

import functools

import numpy as np

from .activations import sigmoid, softmax


def reduction_factor(reduction, m):
    """The factor of d(total)/d(per-sample loss): 1 for `sum`, 1/m for `mean`."""
    return 1.0 if reduction == "sum" else 1.0 / m


def reduce(per_sample, reduction):
    """sum_j L_j (`sum`) or sum_j L_j / m (`mean`). per_sample: (m,) -> 0-d."""
    total = per_sample.sum()
    return total if reduction == "sum" else total / per_sample.shape[0]


def half_sse(A, Y, reduction):
    """E = reduce_j( sum_i 1/2 (Y_ij - A_ij)^2 ): the worked example's E_total (with `sum`)."""
    D = Y - A
    return reduce(0.5 * (D * D).sum(axis=0), reduction)


def half_sse_derivative(A, Y, reduction):
    """dE/dA = (A - Y) * factor. (n[L], m)."""
    return (A - Y) * reduction_factor(reduction, A.shape[1])


def mse(A, Y, reduction):
    """E = reduce_j( (1/n[L]) sum_i (Y_ij - A_ij)^2 ); with `mean`, PyTorch's MSELoss()."""
    D = Y - A
    return reduce((D * D).sum(axis=0) / A.shape[0], reduction)


def mse_derivative(A, Y, reduction):
    """dE/dA = 2 (A - Y) / n[L] * factor. (n[L], m)."""
    return 2 * (A - Y) / A.shape[0] * reduction_factor(reduction, A.shape[1])


def bce(A, Y, reduction):
    """Binary cross-entropy from probabilities: reduce_j( -sum_i [Y log A + (1-Y) log(1-A)] ).
    Infinite when A rounds to 0 or 1; training evaluates `bce_from_logits` instead."""
    return reduce(-(Y * np.log(A) + (1 - Y) * np.log(1 - A)).sum(axis=0), reduction)


@functools.singledispatch  # comparisons/judge/bounds.py and noise.py add other routes
def softplus(Z):
    """softplus(Z) = log(1 + exp(Z)) = max(Z, 0) + log1p(exp(-|Z|)), which never overflows
    and keeps its relative accuracy where it is tiny (Z << 0). (n, m) -> (n, m)."""
    return np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))


def bce_from_logits(Z, Y, reduction):
    """bce of A = sigmoid(Z), from the logits: with -log sigmoid(Z) = softplus(-Z) and
    -log(1 - sigmoid(Z)) = softplus(Z), reduce_j( sum_i [Y softplus(-Z) + (1-Y) softplus(Z)] ),
    the seeds' -[Y log A + (1-Y) log(1-A)] term by term: no cancellation for 0/1 targets, so
    a confident prediction's tiny loss keeps its relative accuracy."""
    per_unit = Y * softplus(-Z) + (1 - Y) * softplus(Z)
    return reduce(per_unit.sum(axis=0), reduction)


def bce_derivative(A, Y, reduction):
    """dE/dA = (A - Y) / (A (1 - A)) * factor. (n[L], m)."""
    return (A - Y) / (A * (1 - A)) * reduction_factor(reduction, A.shape[1])


def cce(A, Y, reduction):
    """Multi-class cross-entropy from probabilities: reduce_j( -sum_i Y_ij log A_ij ) (seed 000
    prints it without the log, a misprint). Training evaluates `cce_from_logits` instead."""
    return reduce(-(Y * np.log(A)).sum(axis=0), reduction)


def cce_from_logits(Z, Y, reduction):
    """cce of A = softmax(Z) from the logits: log A = Z - max - log sum exp(Z - max)."""
    S = Z - Z.max(axis=0, keepdims=True)
    log_A = S - np.log(np.exp(S).sum(axis=0, keepdims=True))
    return reduce(-(Y * log_A).sum(axis=0), reduction)


def cce_derivative(A, Y, reduction):
    """dE/dA = -Y / A * factor. (n[L], m)."""
    return -Y / A * reduction_factor(reduction, A.shape[1])


@functools.singledispatch  # comparisons/judge/bounds.py and noise.py add other routes
def fused_output_delta(ZL, Y, loss, reduction):
    """dZ[L] = (A[L] - Y) * factor, A[L] = sigmoid(Z[L]) for bce, softmax(Z[L]) for cce
    (seed 004): the 1/(A(1-A)) of bce' cancels sigma', and softmax's Jacobian turns -Y/A into
    A - Y (columns of Y sum to 1). (n[L], m)."""
    A = sigmoid(ZL) if loss == "bce" else softmax(ZL)
    return (A - Y) * reduction_factor(reduction, A.shape[1])
