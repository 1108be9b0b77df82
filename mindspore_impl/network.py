"""Forward propagation in mindspore ops; backward propagation by mindspore's autodiff.

Same names, order and shapes as reference.network. The forward functions are line for line
the reference's; every backward function is a VJP or a gradient computed by autodiff.
"""

import mindspore
from mindspore import ops

from . import activations as act
from . import losses
from .activations import vjp

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
    """(dW[l], db[l]): the VJP of linear_forward with respect to W and b, by autodiff. The
    VJP does not depend on the values of W and b, so zeros of their shapes stand in."""
    W = ops.zeros((dZ.shape[0], A_prev.shape[0]), dZ.dtype)
    b = ops.zeros((dZ.shape[0], 1), dZ.dtype)
    _, pullback = mindspore.vjp(lambda w, c: linear_forward(A_prev, w, c), W, b)
    dW, db = pullback(dZ)
    return dW, db


def linear_backward_input(dZ, W):
    """dA[l-1]: the VJP of linear_forward with respect to A[l-1], by autodiff (the value of
    A[l-1] does not enter it, so zeros of its shape stand in)."""
    A_prev = ops.zeros((W.shape[1], dZ.shape[1]), dZ.dtype)
    b = ops.zeros((W.shape[0], 1), dZ.dtype)
    return vjp(lambda a: linear_forward(a, W, b), A_prev, dZ)


def linear_backward(dZ, A_prev, W):
    """(dA[l-1], dW[l], db[l]): both VJPs above, for one layer."""
    dW, db = linear_backward_weights(dZ, A_prev)
    return linear_backward_input(dZ, W), dW, db


def activation_forward(Z, activation):
    """A[l] = g[l](Z[l]). (n[l], m) -> (n[l], m)."""
    return _FORWARD[activation](Z)


def activation_backward(dA, Z, activation):
    """dZ[l]: the VJP of g[l] at Z[l] with dA[l], by autodiff."""
    return vjp(_FORWARD[activation], Z, dA)


def forward_propagation(X, params, activations):
    """A[0] = X; for l = 1..L: Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]).

    Returns (A[L], caches) with caches[l-1] = {"A_prev": A[l-1], "Z": Z[l], "A": A[l]}.
    """
    check_dtypes(X, params)
    A, caches = X, []
    for l, g in enumerate(activations, start=1):
        Z = linear_forward(A, params[f"W{l}"], params[f"b{l}"])
        A_prev, A = A, activation_forward(Z, g)
        caches.append({"A_prev": A_prev, "Z": Z, "A": A})
    return A, caches


def compute_loss(AL, ZL, Y, loss, reduction):
    """The loss of the output; bce and cce from the logits Z[L], half_sse and mse from A[L]."""
    if loss == "bce":
        return losses.bce_from_logits(ZL, Y, reduction)
    if loss == "cce":
        return losses.cce_from_logits(ZL, Y, reduction)
    return _LOSS[loss](AL, Y, reduction)


def output_delta(AL, ZL, Y, loss, reduction, activation):
    """dZ[L] = d loss / d Z[L], by autodiff through the output activation and the loss."""
    if loss in ("bce", "cce"):
        return losses.fused_output_delta(ZL, Y, loss, reduction)
    return vjp(lambda z: compute_loss(activation_forward(z, activation), z, Y, loss, reduction),
               ZL, None)


def backward_propagation(X, Y, params, activations, loss, reduction, input_grad=True):
    """Every gradient of the loss at `params` from one mindspore.value_and_grad over the
    whole graph: "dW{l}", "db{l}", "dZ{l}" for l = 1..L, "dA{l}" for l = 1..L-1, and "dA0"
    (d loss / d X) when input_grad. MindSpore differentiates with respect to inputs only, so
    zero taps added to each Z[l] and A[l-1] make dZ[l] and dA[l-1] gradients with respect to
    inputs. Returns (loss value, grads)."""
    names, L = list(params), len(activations)
    shapes = [(params[f"W{l}"].shape[0], X.shape[1]) for l in range(1, L + 1)]

    def loss_of(X, *args):
        p, taps = dict(zip(names, args[:len(names)])), args[len(names):]
        A = X
        for l, g in enumerate(activations, start=1):
            Z = linear_forward(A + taps[L + l - 1], p[f"W{l}"], p[f"b{l}"]) + taps[l - 1]
            A = activation_forward(Z, g)
        return compute_loss(A, Z, Y, loss, reduction)

    zeros = [ops.zeros(s, X.dtype) for s in shapes]
    zeros += [ops.zeros((X.shape[0] if l == 1 else shapes[l - 2][0], X.shape[1]), X.dtype)
              for l in range(1, L + 1)]
    inputs = [*params.values(), *zeros]
    positions = tuple(range(0 if input_grad else 1, len(inputs) + 1))
    value, g = mindspore.value_and_grad(loss_of, grad_position=positions)(X, *inputs)
    g = list(g) if isinstance(g, (tuple, list)) else [g]
    grads = {"dA0": g.pop(0)} if input_grad else {}
    grads.update({f"d{k}": v for k, v in zip(names, g)})
    grads.update({f"dZ{l}": g[len(names) + l - 1] for l in range(1, L + 1)})
    grads.update({f"dA{l - 1}": g[len(names) + L + l - 1] for l in range(2, L + 1)})
    return value, grads
