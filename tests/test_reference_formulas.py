"""Every hand-written derivative of the reference against central finite differences (float64)."""

import numpy as np
import pytest

from helpers import assert_fd_close, numerical_gradient, numerical_jvp_elementwise
from reference import activations as act
from reference import losses, network

RNG = np.random.default_rng(2024)
Z = RNG.normal(0.0, 2.0, size=(4, 5))
Z[0, 0] = 0.5  # keep relu/leaky_relu away from the kink at 0, where FD is meaningless
Z = np.where(np.abs(Z) < 1e-3, 0.5, Z)

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_derivative_matches_finite_differences(name):
    g, dg = getattr(act, name), getattr(act, f"{name}_derivative")
    assert_fd_close(dg(Z), numerical_jvp_elementwise(g, Z), f"{name}'")


def test_softmax_backward_matches_finite_differences():
    dA = RNG.normal(size=Z.shape)
    numeric = numerical_gradient(lambda z: np.sum(dA * act.softmax(z)), Z)
    assert_fd_close(act.softmax_backward(dA, Z), numeric, "softmax_backward")


def _probabilities(loss, shape):
    if loss == "cce":
        return act.softmax(RNG.normal(size=shape)), np.eye(shape[0])[:, RNG.integers(0, shape[0], shape[1])]
    return RNG.uniform(0.1, 0.9, size=shape), RNG.uniform(0, 1, size=shape)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("loss", ["half_sse", "mse", "bce", "cce"])
def test_loss_derivative_matches_finite_differences(loss, reduction):
    A, Y = _probabilities(loss, (3, 4))
    f, df = getattr(losses, loss), getattr(losses, f"{loss}_derivative")
    numeric = numerical_gradient(lambda a: f(a, Y, reduction), A)
    assert_fd_close(df(A, Y, reduction), numeric, f"{loss}' ({reduction})")


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("loss,activation", [("bce", "sigmoid"), ("cce", "softmax")])
def test_fused_output_delta_is_the_chain_rule(loss, activation, reduction):
    ZL = RNG.normal(size=(3, 4))
    Y = (np.eye(3)[:, [0, 2, 1, 1]] if loss == "cce" else RNG.integers(0, 2, (3, 4)).astype(float))
    A = network.activation_forward(ZL, activation)
    from_logits = getattr(losses, f"{loss}_from_logits")
    numeric = numerical_gradient(lambda z: from_logits(z, Y, reduction), ZL)
    fused = losses.fused_output_delta(ZL, Y, loss, reduction)
    assert_fd_close(fused, numeric, f"fused {activation}+{loss}")
    chained = network.activation_backward(
        getattr(losses, f"{loss}_derivative")(A, Y, reduction), ZL, activation)
    np.testing.assert_allclose(fused, chained, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", ["bce", "cce"])
def test_loss_from_logits_equals_loss_from_probabilities(loss):
    ZL = RNG.normal(size=(3, 6))
    Y = np.eye(3)[:, RNG.integers(0, 3, 6)] if loss == "cce" else RNG.uniform(0, 1, (3, 6))
    A = act.softmax(ZL) if loss == "cce" else act.sigmoid(ZL)
    for reduction in ("sum", "mean"):
        np.testing.assert_allclose(getattr(losses, f"{loss}_from_logits")(ZL, Y, reduction),
                                   getattr(losses, loss)(A, Y, reduction), rtol=1e-14)


def test_mean_is_sum_over_m():
    A, Y = _probabilities("half_sse", (2, 8))
    assert losses.half_sse(A, Y, "mean") == pytest.approx(losses.half_sse(A, Y, "sum") / 8, rel=1e-15)


def test_linear_backward_matches_finite_differences():
    A_prev, W, b = RNG.normal(size=(3, 5)), RNG.normal(size=(4, 3)), RNG.normal(size=(4, 1))
    dZ = RNG.normal(size=(4, 5))
    dA_prev, dW, db = network.linear_backward(dZ, A_prev, W)
    f = lambda A_, W_, b_: np.sum(dZ * network.linear_forward(A_, W_, b_))
    assert_fd_close(dW, numerical_gradient(lambda w: f(A_prev, w, b), W), "dW")
    assert_fd_close(db, numerical_gradient(lambda v: f(A_prev, W, v), b), "db")
    assert_fd_close(dA_prev, numerical_gradient(lambda a: f(a, W, b), A_prev), "dA_prev")
    assert (dA_prev.shape, dW.shape, db.shape) == (A_prev.shape, W.shape, b.shape)


NETWORKS = {
    "tanh-sigmoid-bce": ([3, 4, 1], ["tanh", "sigmoid"], "bce"),
    "relu-deep-bce": ([3, 5, 4, 3, 1], ["relu", "relu", "relu", "sigmoid"], "bce"),
    "leaky-softmax-cce": ([4, 6, 3], ["leaky_relu", "softmax"], "cce"),
    "sigmoid-half_sse": ([2, 2, 2], ["sigmoid", "sigmoid"], "half_sse"),
    "identity-mse": ([3, 3, 2], ["tanh", "identity"], "mse"),
}


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("net", NETWORKS, ids=list(NETWORKS))
def test_backward_propagation_matches_finite_differences(net, reduction):
    layers, acts, loss = NETWORKS[net]
    rng = np.random.default_rng(7)
    m = 5
    params = {}
    for l in range(1, len(layers)):
        params[f"W{l}"] = rng.normal(0, 1, (layers[l], layers[l - 1]))
        params[f"b{l}"] = rng.normal(0, 0.5, (layers[l], 1))
    X = rng.normal(size=(layers[0], m))
    Y = (np.eye(layers[-1])[:, rng.integers(0, layers[-1], m)] if loss == "cce"
         else rng.uniform(0, 1, (layers[-1], m)))
    value, grads = network.backward_propagation(X, Y, params, acts, loss, reduction)

    def loss_at(name):
        def f(v):
            p = dict(params, **{name: v})
            AL, caches = network.forward_propagation(X, p, acts)
            return network.compute_loss(AL, caches[-1]["Z"], Y, loss, reduction)
        return f

    for name in params:
        assert_fd_close(grads["d" + name], numerical_gradient(loss_at(name), params[name]),
                        f"{net} d{name}")
        assert grads["d" + name].shape == params[name].shape

    def loss_of_X(x):
        AL, caches = network.forward_propagation(x, params, acts)
        return network.compute_loss(AL, caches[-1]["Z"], Y, loss, reduction)

    assert_fd_close(grads["dA0"], numerical_gradient(loss_of_X, X), f"{net} dA0")
