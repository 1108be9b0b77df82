"""Activations g(Z) in mindspore ops; their derivatives from mindspore.vjp (PyNative).

Same names and shapes as reference.activations: (n, m) -> (n, m). `*_derivative(Z)` is the
element-wise g'(Z), obtained as the VJP of g with a vector of ones (exact for element-wise g);
`softmax_backward(dA, Z)` is the VJP of softmax. At the kinks these are MindSpore's own
conventions, as measured by the suite (docs/FRAMEWORKS.md).
"""

import mindspore
from mindspore import ops

mindspore.set_context(mode=mindspore.PYNATIVE_MODE)
# Each op runs to its end before the next is launched. PyNative's asynchronous launch keeps
# runtime threads polling: on 2 cores gd-sgd's 400 updates took 12.2 s wall and 24 CPU-s
# asynchronously, 3.5 s and 7 CPU-s blocking, with bitwise the same results (2026-12-03).
mindspore.runtime.launch_blocking()

LEAKY_RELU_SLOPE = 0.01


def vjp(f, x, v):
    """v^T (d f / d x) by mindspore.vjp, for a tensor function f of one tensor x (v None: a
    scalar f, whose cotangent is 1)."""
    out, pullback = mindspore.vjp(f, x)
    (g,) = pullback(ops.ones_like(out) if v is None else v)
    return g


def sigmoid(Z):
    """sigma(Z) = 1 / (1 + exp(-Z))."""
    return ops.sigmoid(Z)


def sigmoid_derivative(Z):
    """sigma'(Z) by autodiff."""
    return vjp(sigmoid, Z, ops.ones_like(Z))


def tanh(Z):
    """tanh(Z)."""
    return ops.tanh(Z)


def tanh_derivative(Z):
    """tanh'(Z) by autodiff."""
    return vjp(tanh, Z, ops.ones_like(Z))


def relu(Z):
    """relu(Z) = max(Z, 0)."""
    return ops.relu(Z)


def relu_derivative(Z):
    """relu'(Z) by autodiff."""
    return vjp(relu, Z, ops.ones_like(Z))


def leaky_relu(Z):
    """leaky_relu(Z) = Z where Z > 0, else 0.01 * Z."""
    return ops.leaky_relu(Z, LEAKY_RELU_SLOPE)


def leaky_relu_derivative(Z):
    """leaky_relu'(Z) by autodiff."""
    return vjp(leaky_relu, Z, ops.ones_like(Z))


def identity(Z):
    """identity(Z) = Z."""
    return Z


def identity_derivative(Z):
    """identity'(Z) by autodiff."""
    return vjp(lambda z: z * 1, Z, ops.ones_like(Z))


def softmax(Z):
    """softmax over each column."""
    return ops.softmax(Z, axis=0)


def softmax_backward(dA, Z):
    """dZ = VJP of softmax at Z with dA, by autodiff. (n, m), (n, m) -> (n, m)."""
    return vjp(softmax, Z, dA)
