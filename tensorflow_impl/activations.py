"""Activations g(Z) in TensorFlow ops; their derivatives from tf.GradientTape.

Same names and shapes as reference.activations: (n, m) -> (n, m). relu'(0) = 0 and
leaky_relu'(0) = 0.01 are TensorFlow's own conventions (ReluGrad and LeakyReluGrad take
Z > 0), which the reference follows.
"""

from .framework import logs_filtered

with logs_filtered():
    import tensorflow as tf

LEAKY_RELU_SLOPE = 0.01


def vjp(f, x, v):
    """v^T (d f / d x) by tf.GradientTape; v = None means the scalar cotangent 1."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x, output_gradients=v)


def sigmoid(Z):
    """sigma(Z) = 1 / (1 + exp(-Z))."""
    return tf.sigmoid(Z)


def sigmoid_derivative(Z):
    """sigma'(Z) by tf.GradientTape."""
    return vjp(sigmoid, Z, tf.ones_like(Z))


def tanh(Z):
    """tanh(Z)."""
    return tf.tanh(Z)


def tanh_derivative(Z):
    """tanh'(Z) by tf.GradientTape."""
    return vjp(tanh, Z, tf.ones_like(Z))


def relu(Z):
    """relu(Z) = max(Z, 0)."""
    return tf.nn.relu(Z)


def relu_derivative(Z):
    """relu'(Z) by tf.GradientTape (0 at Z = 0)."""
    return vjp(relu, Z, tf.ones_like(Z))


def leaky_relu(Z):
    """leaky_relu(Z) = Z where Z > 0, else 0.01 * Z."""
    return tf.nn.leaky_relu(Z, alpha=LEAKY_RELU_SLOPE)


def leaky_relu_derivative(Z):
    """leaky_relu'(Z) by tf.GradientTape (0.01 at Z = 0)."""
    return vjp(leaky_relu, Z, tf.ones_like(Z))


def identity(Z):
    """identity(Z) = Z."""
    return tf.identity(Z)


def identity_derivative(Z):
    """identity'(Z) by tf.GradientTape."""
    return vjp(identity, Z, tf.ones_like(Z))


def softmax(Z):
    """softmax over each column (TensorFlow subtracts the maximum internally)."""
    return tf.nn.softmax(Z, axis=0)


def softmax_backward(dA, Z):
    """dZ = VJP of softmax at Z with dA, by tf.GradientTape. (n, m), (n, m) -> (n, m)."""
    return vjp(softmax, Z, dA)
