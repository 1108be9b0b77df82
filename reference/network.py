"""Forward and backward propagation, one function per formula (docs/SPEC.md; seeds 000, 004).

Column convention: A[l] and Z[l] are (n[l], m), W[l] is (n[l], n[l-1]), b[l] is (n[l], 1);
`params` maps "W1", "b1", ..., "WL", "bL" to arrays. Every gradient here is derived by hand.
"""


from . import activations as act
from . import losses
from .precision import to_compute, to_output

_FORWARD = {"sigmoid": act.sigmoid, "tanh": act.tanh, "relu": act.relu,
            "leaky_relu": act.leaky_relu, "identity": act.identity, "softmax": act.softmax}
_DERIVATIVE = {"sigmoid": act.sigmoid_derivative, "tanh": act.tanh_derivative,
               "relu": act.relu_derivative, "leaky_relu": act.leaky_relu_derivative,
               "identity": act.identity_derivative}
_LOSS = {"half_sse": losses.half_sse, "mse": losses.mse, "bce": losses.bce, "cce": losses.cce}
_LOSS_DERIVATIVE = {"half_sse": losses.half_sse_derivative, "mse": losses.mse_derivative,
                    "bce": losses.bce_derivative, "cce": losses.cce_derivative}


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
    """dW[l] = dZ[l] . A[l-1]^T and db[l] = sum over columns of dZ[l] (keepdims).

    dZ already carries the loss's reduction factor (1/m for `mean`), so this is the seeds'
    dW = (1/m) dZ A^T with the 1/m moved into dZ. dZ (n[l], m), A_prev (n[l-1], m) ->
    dW (n[l], n[l-1]), db (n[l], 1).
    """
    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)


def linear_backward_input(dZ, W):
    """dA[l-1] = W[l]^T . dZ[l].  (n[l], n[l-1])^T . (n[l], m) -> (n[l-1], m)."""
    return W.T @ dZ


def linear_backward(dZ, A_prev, W):
    """(dA[l-1], dW[l], db[l]): both formulas above, for one layer."""
    dW, db = linear_backward_weights(dZ, A_prev)
    return linear_backward_input(dZ, W), dW, db


def activation_forward(Z, activation):
    """A[l] = g[l](Z[l]). (n[l], m) -> (n[l], m)."""
    return _FORWARD[activation](Z)


def activation_backward(dA, Z, activation):
    """dZ[l] = dA[l] * g[l]'(Z[l]) (element-wise); for softmax the Jacobian-vector product.
    (n[l], m), (n[l], m) -> (n[l], m)."""
    if activation == "softmax":
        return act.softmax_backward(dA, Z)
    return dA * _DERIVATIVE[activation](Z)


def forward_propagation(X, params, activations):
    """A[0] = X; for l = 1..L: Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]).

    Returns (A[L], caches) with caches[l-1] = {"A_prev": A[l-1], "Z": Z[l], "A": A[l]}.
    X: (n[0], m) -> A[L]: (n[L], m). Under a reduced-precision policy (precision.py) the
    product's operands, Z[l] and the hidden A[l] are rounded to its compute dtype, A[L] to its
    output dtype.
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
    """The loss of the output. bce and cce are evaluated from the logits Z[L] (stable when
    A[L] rounds to 0 or 1); half_sse and mse from A[L]. Returns a 0-d value (in the output
    dtype of a reduced-precision policy)."""
    if loss == "bce":
        return to_output(losses.bce_from_logits(ZL, Y, reduction))
    if loss == "cce":
        return to_output(losses.cce_from_logits(ZL, Y, reduction))
    return to_output(_LOSS[loss](AL, Y, reduction))


def output_delta(AL, ZL, Y, loss, reduction, activation):
    """dZ[L] = d loss / d Z[L]. Fused (A[L] - Y) * factor for sigmoid + bce and softmax + cce;
    otherwise dA[L] = loss'(A[L]) followed by `activation_backward`. (n[L], m)."""
    if loss in ("bce", "cce"):
        return to_output(losses.fused_output_delta(ZL, Y, loss, reduction))
    return to_output(activation_backward(to_output(_LOSS_DERIVATIVE[loss](AL, Y, reduction)),
                                         ZL, activation))


def backward_propagation(X, Y, params, activations, loss, reduction, input_grad=True):
    """Every gradient of the loss at `params`, from dZ[L] down to layer 1.

    Returns (loss value, grads) with grads "dW{l}", "db{l}", "dZ{l}" for l = 1..L and
    "dA{l}" for l = 1..L-1, plus "dA0" (d loss / d X) when input_grad; each has the shape of
    its variable. Training passes input_grad=False: dA0 costs a matrix product and no update
    uses it.
    """
    AL, caches = forward_propagation(X, params, activations)
    L = len(activations)
    ZL = caches[-1]["Z"]
    value = compute_loss(AL, ZL, Y, loss, reduction)
    grads = {}
    dZ = output_delta(AL, ZL, Y, loss, reduction, activations[-1])
    for l in range(L, 0, -1):
        grads[f"dZ{l}"] = dZ = to_compute(dZ)
        dW, db = linear_backward_weights(dZ, caches[l - 1]["A_prev"])
        grads[f"dW{l}"], grads[f"db{l}"] = to_compute(dW), to_compute(db)
        if l > 1 or input_grad:
            grads[f"dA{l - 1}"] = to_compute(linear_backward_input(dZ, to_compute(params[f"W{l}"])))
        if l > 1:
            dZ = to_compute(activation_backward(grads[f"dA{l - 1}"], caches[l - 2]["Z"],
                                                activations[l - 2]))
    return value, grads
