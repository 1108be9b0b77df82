"""Activations g(Z) in autograd.numpy; their derivatives from autograd.make_vjp."""

import autograd.numpy as anp
from autograd import make_vjp

LEAKY_RELU_SLOPE = 0.01


def vjp(f, x, v):
    """v^T (d f / d x) by autograd; v = None means the scalar cotangent 1."""
    pullback, y = make_vjp(f)(x)
    return pullback(anp.ones_like(y) if v is None else v)


def sigmoid(Z):
    """sigma(Z), as exp(min(Z, 0)) / (1 + exp(-|Z|)): never overflows."""
    return anp.exp(anp.minimum(Z, 0)) / (1 + anp.exp(-anp.abs(Z)))


def sigmoid_derivative(Z):
    return vjp(sigmoid, Z, anp.ones_like(Z))


def tanh(Z):
    return anp.tanh(Z)


def tanh_derivative(Z):
    return vjp(tanh, Z, anp.ones_like(Z))


def relu(Z):
    """where(Z > 0, Z, 0): autograd then gives relu'(0) = 0, the suite's convention."""
    return anp.where(Z > 0, Z, 0.0)


def relu_derivative(Z):
    return vjp(relu, Z, anp.ones_like(Z))


def leaky_relu(Z):
    return anp.where(Z > 0, Z, LEAKY_RELU_SLOPE * Z)


def leaky_relu_derivative(Z):
    return vjp(leaky_relu, Z, anp.ones_like(Z))


def identity(Z):
    return Z


def identity_derivative(Z):
    return vjp(identity, Z, anp.ones_like(Z))


def softmax(Z):
    E = anp.exp(Z - anp.max(Z, axis=0, keepdims=True))
    return E / anp.sum(E, axis=0, keepdims=True)


def softmax_backward(dA, Z):
    return vjp(softmax, Z, dA)
