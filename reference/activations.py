"""Activations g(Z) and their derivatives, by hand (seeds 000, 002, 004).

Every function maps an (n, m) array to an (n, m) array of the same dtype. `*_derivative(Z)`
is the element-wise g'(Z) of the seeds' `dZ = dA * g'(Z)`; softmax is not element-wise, so
it has `softmax_backward(dA, Z)`, the Jacobian-vector product, instead. All are safe for
|Z| up to 1000 in float64 and 100 in float32: no overflow warning, no NaN.
"""

import functools

import numpy as np

LEAKY_RELU_SLOPE = 0.01


def sigmoid(Z):
    """sigma(Z) = 1 / (1 + exp(-Z)), evaluated as exp(min(Z, 0)) / (1 + exp(-|Z|)): that is
    1 / (1 + exp(-Z)) for Z >= 0 and exp(Z) / (1 + exp(Z)) for Z < 0, so exp never
    overflows, without a branch per element. (n, m) -> (n, m)."""
    return np.exp(np.minimum(Z, 0)) / (1 + np.exp(-np.abs(Z)))


def sigmoid_derivative(Z):
    """sigma'(Z) = sigma(Z) * (1 - sigma(Z)). (n, m) -> (n, m)."""
    A = sigmoid(Z)
    return A * (1 - A)


def tanh(Z):
    """tanh(Z). (n, m) -> (n, m)."""
    return np.tanh(Z)


@functools.singledispatch  # comparisons/judge/bounds.py and noise.py add other routes
def tanh_derivative(Z):
    """tanh'(Z) = 1 - tanh(Z)^2. (n, m) -> (n, m)."""
    A = np.tanh(Z)
    return 1 - A * A


def relu(Z):
    """relu(Z) = max(Z, 0). (n, m) -> (n, m). (np.maximum, not np.where: on a random sign
    pattern np.where costs ~10x more.)"""
    return np.maximum(Z, 0)


def relu_derivative(Z):
    """relu'(Z) = 1 where Z > 0, else 0; relu'(0) = 0, as in PyTorch and JAX. (n, m) -> (n, m)."""
    return (Z > 0).astype(Z.dtype)


def leaky_relu(Z):
    """leaky_relu(Z) = Z where Z > 0, else 0.01 * Z, written max(Z, 0) + 0.01 min(Z, 0): the
    same values, and visibly continuous (no branch to flip). (n, m) -> (n, m)."""
    return np.maximum(Z, 0) + LEAKY_RELU_SLOPE * np.minimum(Z, 0)


def leaky_relu_derivative(Z):
    """leaky_relu'(Z) = 1 where Z > 0, else 0.01 (so 0.01 at 0, the left derivative, as
    relu'(0) = 0). (n, m) -> (n, m)."""
    return np.where(Z > 0, 1, LEAKY_RELU_SLOPE).astype(Z.dtype)


def identity(Z):
    """identity(Z) = Z. (n, m) -> (n, m)."""
    return Z


def identity_derivative(Z):
    """identity'(Z) = 1. (n, m) -> (n, m)."""
    return np.ones_like(Z)


def softmax(Z):
    """softmax over each column: exp(Z - max) / sum(exp(Z - max)); the column maximum is
    subtracted so exp never overflows. (n, m) -> (n, m), columns sum to 1."""
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def softmax_backward(dA, Z):
    """dZ = J^T dA per column, J = diag(A) - A A^T: dZ = A * (dA - sum_rows(dA * A)).
    dA, Z: (n, m) -> dZ: (n, m)."""
    A = softmax(Z)
    return A * (dA - (dA * A).sum(axis=0, keepdims=True))
