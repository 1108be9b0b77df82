"""Activations g(Z) in jax.numpy; their derivatives from jax.vjp.

Same names and shapes as reference.activations: (n, m) -> (n, m). relu and leaky_relu are
written with `where(Z > 0, ...)` so that autodiff gives relu'(0) = 0 and leaky_relu'(0) = 0.01,
the reference's (and PyTorch's) convention; `jnp.maximum` would give 0.5 at the tie.
"""

import jax
import jax.numpy as jnp

# float64 parity needs x64 (see jax_impl/__init__.py); every jax_impl module imports this one.
jax.config.update("jax_enable_x64", True)
if jnp.zeros(1, dtype=jnp.float64).dtype != jnp.float64:  # pragma: no cover
    raise RuntimeError("jax_impl: enabling jax_enable_x64 did not take effect; float64 "
                       "arrays would silently be float32")

LEAKY_RELU_SLOPE = 0.01


def vjp(f, x, v):
    """v^T (d f / d x) by jax.vjp; v = None means the scalar cotangent 1."""
    y, pullback = jax.vjp(f, x)
    (g,) = pullback(jnp.ones_like(y) if v is None else v)
    return g


def sigmoid(Z):
    """sigma(Z) = 1 / (1 + exp(-Z))."""
    return jax.nn.sigmoid(Z)


def sigmoid_derivative(Z):
    """sigma'(Z) by jax.vjp."""
    return vjp(sigmoid, Z, jnp.ones_like(Z))


def tanh(Z):
    """tanh(Z)."""
    return jnp.tanh(Z)


def tanh_derivative(Z):
    """tanh'(Z) by jax.vjp."""
    return vjp(tanh, Z, jnp.ones_like(Z))


def relu(Z):
    """relu(Z) = Z where Z > 0, else 0."""
    return jnp.where(Z > 0, Z, jnp.zeros_like(Z))


def relu_derivative(Z):
    """relu'(Z) by jax.vjp (0 at Z = 0)."""
    return vjp(relu, Z, jnp.ones_like(Z))


def leaky_relu(Z):
    """leaky_relu(Z) = Z where Z > 0, else 0.01 * Z."""
    return jnp.where(Z > 0, Z, LEAKY_RELU_SLOPE * Z)


def leaky_relu_derivative(Z):
    """leaky_relu'(Z) by jax.vjp (0.01 at Z = 0)."""
    return vjp(leaky_relu, Z, jnp.ones_like(Z))


def identity(Z):
    """identity(Z) = Z."""
    return Z


def identity_derivative(Z):
    """identity'(Z) by jax.vjp."""
    return vjp(identity, Z, jnp.ones_like(Z))


def softmax(Z):
    """softmax over each column (jax.nn.softmax subtracts the maximum)."""
    return jax.nn.softmax(Z, axis=0)


def softmax_backward(dA, Z):
    """dZ = VJP of softmax at Z with dA, by jax.vjp. (n, m), (n, m) -> (n, m)."""
    return vjp(softmax, Z, dA)
