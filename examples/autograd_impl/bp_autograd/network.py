"""Forward propagation in autograd.numpy; backward propagation by autograd."""

import autograd.numpy as anp
from autograd import value_and_grad

from . import activations as act
from . import losses
from .activations import vjp

_FORWARD = {"sigmoid": act.sigmoid, "tanh": act.tanh, "relu": act.relu,
            "leaky_relu": act.leaky_relu, "identity": act.identity, "softmax": act.softmax}
_LOSS = {"half_sse": losses.half_sse, "mse": losses.mse, "bce": losses.bce, "cce": losses.cce}


def check_dtypes(X, params):
    for k, v in params.items():
        if v.dtype != X.dtype:
            raise TypeError(f"{k} has dtype {v.dtype}, but X has dtype {X.dtype}")


def linear_forward(A_prev, W, b):
    return anp.dot(W, A_prev) + b


def linear_backward_weights(dZ, A_prev):
    W = anp.zeros((dZ.shape[0], A_prev.shape[0]), dtype=dZ.dtype)
    b = anp.zeros((dZ.shape[0], 1), dtype=dZ.dtype)
    return (vjp(lambda w: linear_forward(A_prev, w, b), W, dZ),
            vjp(lambda c: linear_forward(A_prev, W, c), b, dZ))


def linear_backward_input(dZ, W):
    A_prev = anp.zeros((W.shape[1], dZ.shape[1]), dtype=dZ.dtype)
    b = anp.zeros((W.shape[0], 1), dtype=dZ.dtype)
    return vjp(lambda a: linear_forward(a, W, b), A_prev, dZ)


def linear_backward(dZ, A_prev, W):
    dW, db = linear_backward_weights(dZ, A_prev)
    return linear_backward_input(dZ, W), dW, db


def activation_forward(Z, activation):
    return _FORWARD[activation](Z)


def activation_backward(dA, Z, activation):
    return vjp(_FORWARD[activation], Z, dA)


def forward_propagation(X, params, activations):
    check_dtypes(X, params)
    A, caches = X, []
    for l, g in enumerate(activations, start=1):
        Z = linear_forward(A, params[f"W{l}"], params[f"b{l}"])
        A_prev, A = A, activation_forward(Z, g)
        caches.append({"A_prev": A_prev, "Z": Z, "A": A})
    return A, caches


def compute_loss(AL, ZL, Y, loss, reduction):
    if loss == "bce":
        return losses.bce_from_logits(ZL, Y, reduction)
    if loss == "cce":
        return losses.cce_from_logits(ZL, Y, reduction)
    return _LOSS[loss](AL, Y, reduction)


def output_delta(AL, ZL, Y, loss, reduction, activation):
    if loss in ("bce", "cce"):
        return losses.fused_output_delta(ZL, Y, loss, reduction)
    return vjp(lambda z: compute_loss(activation_forward(z, activation), z, Y, loss, reduction),
               ZL, None)


def backward_propagation(X, Y, params, activations, loss, reduction, input_grad=True, taps=True):
    """Every gradient of the loss at `params` from one autograd.grad call, with zero "taps"
    added to Z[l] and A[l-1] to expose dZ and dA (adding 0.0 changes no value); the loss from the
    same forward pass (value_and_grad). taps=False (training, which needs only dW and db):
    the parameters' gradients alone, without the taps' nodes (a quarter of autograd's time)."""
    L = len(activations)
    first = 0 if input_grad else 1

    def loss_with_taps(p, tZ, tA):
        A = X
        for l, g in enumerate(activations, start=1):
            A_in = A + tA[l - 1 - first] if tA and l - 1 >= first else A
            Z = linear_forward(A_in, p[f"W{l}"], p[f"b{l}"])
            Z = Z + tZ[l - 1] if tZ else Z
            A = activation_forward(Z, g)
        return compute_loss(A, Z, Y, loss, reduction)

    if not taps:
        value, gp = value_and_grad(loss_with_taps)(params, None, None)
        return value, {f"d{k}": v for k, v in gp.items()}
    m = X.shape[1]
    tZ = [anp.zeros((params[f"b{l}"].shape[0], m), X.dtype) for l in range(1, L + 1)]
    tA = [anp.zeros((params[f"W{l}"].shape[1], m), X.dtype) for l in range(first + 1, L + 1)]
    value, (gp, gZ, gA) = value_and_grad(loss_with_taps, argnum=(0, 1, 2))(params, tZ, tA)
    grads = {f"d{k}": v for k, v in gp.items()}
    grads.update({f"dZ{l}": gZ[l - 1] for l in range(1, L + 1)})
    grads.update({f"dA{l}": gA[l - first] for l in range(first, L)})
    return value, grads
