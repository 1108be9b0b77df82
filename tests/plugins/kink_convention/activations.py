"""The reference's activations, but g'(0) = 1 at both kinks."""

from ._source import run_reference_module

run_reference_module("activations", globals())


def relu_derivative(Z):  # noqa: F811
    """relu'(Z), 1 at Z = 0 (the suite's convention is 0)."""
    return (Z >= 0).astype(Z.dtype)


def leaky_relu_derivative(Z):  # noqa: F811
    """leaky_relu'(Z), 1 at Z = 0 (the suite's convention is the slope, 0.01)."""
    return np.where(Z >= 0, 1, LEAKY_RELU_SLOPE).astype(Z.dtype)  # noqa: F821
