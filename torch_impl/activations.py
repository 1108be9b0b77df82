"""Activations g(Z) in torch ops; their derivatives from torch.autograd.

Same names and shapes as reference.activations: (n, m) -> (n, m). `*_derivative(Z)` is the
element-wise g'(Z), obtained as the VJP of g with a vector of ones (exact for element-wise g);
`softmax_backward(dA, Z)` is the VJP of softmax. relu'(0) = 0 and leaky_relu'(0) = 0.01 are
PyTorch's own conventions, which the reference follows.
"""

import torch
import torch.nn.functional as F

LEAKY_RELU_SLOPE = 0.01


def vjp(f, x, v):
    """v^T (d f / d x) by torch.autograd, for a tensor function f of one tensor x."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(x), x, grad_outputs=v)
    return g


def sigmoid(Z):
    """sigma(Z) = 1 / (1 + exp(-Z))."""
    return torch.sigmoid(Z)


def sigmoid_derivative(Z):
    """sigma'(Z) by autograd."""
    return vjp(sigmoid, Z, torch.ones_like(Z))


def tanh(Z):
    """tanh(Z)."""
    return torch.tanh(Z)


def tanh_derivative(Z):
    """tanh'(Z) by autograd."""
    return vjp(tanh, Z, torch.ones_like(Z))


def relu(Z):
    """relu(Z) = max(Z, 0)."""
    return torch.relu(Z)


def relu_derivative(Z):
    """relu'(Z) by autograd (0 at Z = 0)."""
    return vjp(relu, Z, torch.ones_like(Z))


def leaky_relu(Z):
    """leaky_relu(Z) = Z where Z > 0, else 0.01 * Z."""
    return F.leaky_relu(Z, LEAKY_RELU_SLOPE)


def leaky_relu_derivative(Z):
    """leaky_relu'(Z) by autograd (0.01 at Z = 0)."""
    return vjp(leaky_relu, Z, torch.ones_like(Z))


def identity(Z):
    """identity(Z) = Z."""
    return Z


def identity_derivative(Z):
    """identity'(Z) by autograd."""
    return vjp(lambda z: z * 1, Z, torch.ones_like(Z))


def softmax(Z):
    """softmax over each column (torch subtracts the maximum internally)."""
    return torch.softmax(Z, dim=0)


def softmax_backward(dA, Z):
    """dZ = VJP of softmax at Z with dA, by autograd. (n, m), (n, m) -> (n, m)."""
    return vjp(softmax, Z, dA)
