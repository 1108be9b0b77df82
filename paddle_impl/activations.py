"""Activations g(Z) in paddle ops; their derivatives from paddle.grad (dygraph).

Same names and shapes as reference.activations: (n, m) -> (n, m). `*_derivative(Z)` is the
element-wise g'(Z), obtained as the VJP of g with a vector of ones (exact for element-wise g);
`softmax_backward(dA, Z)` is the VJP of softmax. At the kinks these are Paddle's own
conventions: relu'(0) = 0 as in the reference, but leaky_relu'(0) = 1, where the suite takes
the slope, 0.01 (ERRATA.md).
"""

from .framework import quiet_import

with quiet_import():
    import paddle
import paddle.nn.functional as F

LEAKY_RELU_SLOPE = 0.01


def vjp(f, x, v):
    """v^T (d f / d x) by paddle.grad, for a tensor function f of one tensor x."""
    with paddle.set_grad_enabled(True):
        x = x.detach()
        x.stop_gradient = False
        (g,) = paddle.grad(f(x), x, grad_outputs=v)
    return g


def sigmoid(Z):
    """sigma(Z) = 1 / (1 + exp(-Z))."""
    return F.sigmoid(Z)


def sigmoid_derivative(Z):
    """sigma'(Z) by autograd."""
    return vjp(sigmoid, Z, paddle.ones_like(Z))


def tanh(Z):
    """tanh(Z)."""
    return paddle.tanh(Z)


def tanh_derivative(Z):
    """tanh'(Z) by autograd."""
    return vjp(tanh, Z, paddle.ones_like(Z))


def relu(Z):
    """relu(Z) = max(Z, 0)."""
    return F.relu(Z)


def relu_derivative(Z):
    """relu'(Z) by autograd (0 at Z = 0)."""
    return vjp(relu, Z, paddle.ones_like(Z))


def leaky_relu(Z):
    """leaky_relu(Z) = Z where Z > 0, else 0.01 * Z."""
    return F.leaky_relu(Z, LEAKY_RELU_SLOPE)


def leaky_relu_derivative(Z):
    """leaky_relu'(Z) by autograd (Paddle's: 1 at Z = 0)."""
    return vjp(leaky_relu, Z, paddle.ones_like(Z))


def identity(Z):
    """identity(Z) = Z."""
    return Z


def identity_derivative(Z):
    """identity'(Z) by autograd."""
    return vjp(lambda z: z * 1, Z, paddle.ones_like(Z))


def softmax(Z):
    """softmax over each column (Paddle subtracts the maximum internally)."""
    return F.softmax(Z, axis=0)


def softmax_backward(dA, Z):
    """dZ = VJP of softmax at Z with dA, by autograd. (n, m), (n, m) -> (n, m)."""
    return vjp(softmax, Z, dA)
