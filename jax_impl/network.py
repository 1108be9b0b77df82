"""Forward propagation in jax.numpy; backward propagation by jax.grad / jax.vjp.

Same names, order and shapes as reference.network. The forward functions are line for line
the reference's; every backward function is a JAX VJP.
"""

import jax
import jax.numpy as jnp

from . import activations as act
from . import losses
from .activations import vjp
from .precision import to_compute, to_output

_FORWARD = {"sigmoid": act.sigmoid, "tanh": act.tanh, "relu": act.relu,
            "leaky_relu": act.leaky_relu, "identity": act.identity, "softmax": act.softmax}
_LOSS = {"half_sse": losses.half_sse, "mse": losses.mse, "bce": losses.bce, "cce": losses.cce}


def check_dtypes(X, params):
    """Refuse mixed precision: X and every parameter must share one floating dtype."""
    for k, v in params.items():
        if v.dtype != X.dtype:
            raise TypeError(f"{k} has dtype {v.dtype}, but X has dtype {X.dtype}; "
                            "cast the case to one dtype (float64 or float32)")


def linear_forward(A_prev, W, b):
    """Z[l] = W[l] . A[l-1] + b[l].  (n[l], n[l-1]) . (n[l-1], m) + (n[l], 1) -> (n[l], m)."""
    return W @ A_prev + b


def linear_backward_weights(dZ, A_prev):
    """(dW[l], db[l]): the VJP of linear_forward with respect to W and b, by jax.vjp. The
    VJP does not depend on the values of W and b, so zeros of their shapes stand in."""
    W = jnp.zeros((dZ.shape[0], A_prev.shape[0]), dtype=dZ.dtype)
    b = jnp.zeros((dZ.shape[0], 1), dtype=dZ.dtype)
    _, pullback = jax.vjp(lambda W, b: linear_forward(A_prev, W, b), W, b)
    return pullback(dZ)


def linear_backward_input(dZ, W):
    """dA[l-1]: the VJP of linear_forward with respect to A[l-1], by jax.vjp (the value of
    A[l-1] does not enter it, so zeros of its shape stand in)."""
    A_prev = jnp.zeros((W.shape[1], dZ.shape[1]), dtype=dZ.dtype)
    b = jnp.zeros((W.shape[0], 1), dtype=dZ.dtype)
    _, pullback = jax.vjp(lambda A: linear_forward(A, W, b), A_prev)
    return pullback(dZ)[0]


def linear_backward(dZ, A_prev, W):
    """(dA[l-1], dW[l], db[l]): both VJPs above, for one layer."""
    dW, db = linear_backward_weights(dZ, A_prev)
    return linear_backward_input(dZ, W), dW, db


def activation_forward(Z, activation):
    """A[l] = g[l](Z[l]). (n[l], m) -> (n[l], m)."""
    return _FORWARD[activation](Z)


def activation_backward(dA, Z, activation):
    """dZ[l]: the VJP of g[l] at Z[l] with dA[l], by jax.vjp."""
    return vjp(_FORWARD[activation], Z, dA)


def forward_propagation(X, params, activations):
    """A[0] = X; for l = 1..L: Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]).

    Returns (A[L], caches) with caches[l-1] = {"A_prev": A[l-1], "Z": Z[l], "A": A[l]}.
    Under a reduced-precision policy, cast where the reference rounds (precision.py).
    """
    check_dtypes(X, params)
    A, caches, L = X, [], len(activations)
    for l, g in enumerate(activations, start=1):
        A_prev = to_compute(A)
        Z = to_compute(linear_forward(A_prev, to_compute(params[f"W{l}"]),
                                      to_compute(params[f"b{l}"])))
        A = activation_forward(Z, g)
        A = to_output(A) if l == L else to_compute(A)
        caches.append({"A_prev": A_prev, "Z": Z, "A": A})
    return A, caches


def compute_loss(AL, ZL, Y, loss, reduction):
    """The loss of the output; bce and cce from the logits Z[L], half_sse and mse from A[L]."""
    if loss == "bce":
        return to_output(losses.bce_from_logits(ZL, Y, reduction))
    if loss == "cce":
        return to_output(losses.cce_from_logits(ZL, Y, reduction))
    return to_output(_LOSS[loss](AL, Y, reduction))


def output_delta(AL, ZL, Y, loss, reduction, activation):
    """dZ[L] = d loss / d Z[L], by jax.vjp through the output activation and the loss."""
    if loss in ("bce", "cce"):
        return losses.fused_output_delta(ZL, Y, loss, reduction)
    return vjp(lambda z: compute_loss(activation_forward(z, activation), z, Y, loss, reduction),
               ZL, None)


def backward_propagation(X, Y, params, activations, loss, reduction, input_grad=True):
    """Every gradient of the loss at `params` from one jax.value_and_grad call over the whole
    network: "dW{l}", "db{l}", "dZ{l}" for l = 1..L, "dA{l}" for l = 1..L-1, and "dA0"
    (d loss / d X) when input_grad.

    To expose dZ[l] and dA[l-1] the forward pass adds zero "taps" to Z[l] and A[l-1] (adding
    0.0 changes no value) and differentiates with respect to them as well. Under a
    reduced-precision policy it casts where forward_propagation does.
    Returns (loss value, grads).
    """
    check_dtypes(X, params)
    L = len(activations)
    first = 0 if input_grad else 1

    def loss_with_taps(p, tZ, tA):
        A = X
        for l, g in enumerate(activations, start=1):
            A = to_compute(A)
            A_in = A + tA[l - 1 - first] if l - 1 >= first else A
            Z = to_compute(linear_forward(A_in, to_compute(p[f"W{l}"]),
                                          to_compute(p[f"b{l}"]))) + tZ[l - 1]
            A = activation_forward(Z, g)
            A = to_output(A) if l == L else to_compute(A)
        return compute_loss(A, Z, Y, loss, reduction)

    m = X.shape[1]
    tZ = [jnp.zeros((params[f"b{l}"].shape[0], m), X.dtype) for l in range(1, L + 1)]
    tA = [jnp.zeros((params[f"W{l}"].shape[1], m), X.dtype) for l in range(first + 1, L + 1)]
    value, (gp, gZ, gA) = jax.value_and_grad(loss_with_taps, argnums=(0, 1, 2))(params, tZ, tA)
    grads = {f"d{k}": v for k, v in gp.items()}
    grads.update({f"dZ{l}": gZ[l - 1] for l in range(1, L + 1)})
    grads.update({f"dA{l}": gA[l - first] for l in range(first, L)})
    return value, grads
