"""Gradient descent by hand: batch, mini-batch and SGD (seed 003), two update schedules.

simultaneous: every gradient at the old parameters, then every trainable parameter moves,
    W[l] -= lr * dW[l], b[l] -= lr * db[l] (textbook gradient descent).
sequential: layer L first; each layer is updated as soon as its gradient is known, and the
    delta goes to the layer below through the *updated* W[l] (the rule that produces the
    worked example's published trajectory; see docs/SPEC.md and ERRATA.md).
The batch order is data (`Case.batch_order()`), shared with the other implementations.
An optimizer, weight decay and clipping (simultaneous schedule only) and a learning-rate
schedule (either) are the case's too: reference/optimizers.py, docs/SPEC.md ("Optimizers").
"""

import numpy as np

from comparisons.protocol import TrainResult
from comparisons.protocol.case import map_state

from . import optimizers, precision
from .network import (activation_backward, backward_propagation, compute_loss,
                      forward_propagation, linear_backward_input,
                      linear_backward_weights, output_delta)


def as_array(a, dtype):
    """A NumPy array (any nested numbers) as this package's array of `dtype`."""
    return np.asarray(a, dtype=dtype)


def as_numpy(x):
    """This package's array as a NumPy array."""
    return np.asarray(x)


def cast(case):
    """The case's X, Y and parameters as arrays of the case's dtype."""
    dtype = np.dtype(case.dtype)
    return (case.X.astype(dtype), case.Y.astype(dtype),
            {k: v.astype(dtype) for k, v in case.params.items()})


def simultaneous_step(params, X, Y, activations, loss, reduction, lr, trainable):
    """One gradient-descent update with every gradient taken at the old parameters.
    Returns (loss before the update, new params)."""
    value, grads = backward_propagation(X, Y, params, activations, loss, reduction,
                                        input_grad=False)
    return value, update_parameters(params, grads, lr, trainable)


def update_parameters(params, grads, lr, trainable):
    """W[l] = W[l] - lr * dW[l], b[l] = b[l] - lr * db[l] for every trainable parameter
    (`grads` holds "dW1", "db1", ...; shapes as the parameters'); the others as they are.
    Each result in a reduced-precision policy's params dtype (precision.to_params)."""
    new = dict(params)
    for k in trainable:
        new[k] = precision.to_params(params[k] - lr * grads["d" + k])
    return new


def sequential_step(params, X, Y, activations, loss, reduction, lr, trainable):
    """One layer-wise update: for l = L..1, dW[l], db[l] from dZ[l]; update layer l; then
    dA[l-1] = W[l]_updated^T dZ[l] and dZ[l-1] = dA[l-1] * g'(Z[l-1]) (Z from the forward
    pass at the old parameters). Returns (loss before the update, new params)."""
    AL, caches = forward_propagation(X, params, activations)
    L = len(activations)
    ZL = caches[-1]["Z"]
    value = compute_loss(AL, ZL, Y, loss, reduction)
    new = dict(params)
    dZ = output_delta(AL, ZL, Y, loss, reduction, activations[-1])
    for l in range(L, 0, -1):
        dW, db = linear_backward_weights(dZ, caches[l - 1]["A_prev"])
        if f"W{l}" in trainable:
            new[f"W{l}"] = params[f"W{l}"] - lr * dW
        if f"b{l}" in trainable:
            new[f"b{l}"] = params[f"b{l}"] - lr * db
        if l > 1:
            dA_prev = linear_backward_input(dZ, new[f"W{l}"])
            dZ = activation_backward(dA_prev, caches[l - 2]["Z"], activations[l - 2])
    return value, new


STEPS = {"simultaneous": simultaneous_step, "sequential": sequential_step}


def initial_gradients(params, X, Y, activations, loss, reduction):
    """d loss / d param for every parameter ("W1", "b1", ...), at `params`."""
    _, grads = backward_propagation(X, Y, params, activations, loss, reduction,
                                    input_grad=False)
    return {k: grads["d" + k] for k in params}


def train(case):
    """Run the case's training and return a `TrainResult` (comparisons/protocol/results.py):
    the step-0 gradients on the first batch, the loss of every update's batch before that update, the
    final parameters and the outputs before and after training, and the optimizer's final
    state where the case has an optimizer or clipping (reference/optimizers.py). A
    reduced-precision policy rounds where reference/precision.py says."""
    with precision.policy(case.precision):
        return _train(case)


def _train(case):
    X, Y, params = cast(case)
    initial_outputs, _ = forward_propagation(X, params, case.activations)
    net = (case.activations, case.loss, case.reduction)
    step = STEPS[case.schedule]
    trainable = case.trainable_names
    batches, first = case.update_batches()
    gradients = initial_gradients(params, X[:, first], Y[:, first], *net)
    losses = np.empty(case.updates + 1, dtype=X.dtype)
    state = None
    first_step = 0 if case.initial_state is None else case.initial_state["step"]
    if case.stateful:
        state = (optimizers.initial_state(params, case.optimizer, trainable)
                 if case.initial_state is None
                 else map_state(case.initial_state, lambda a: a.astype(X.dtype)))
        for i, idx in enumerate(batches):
            lr = optimizers.learning_rate(case.lr_schedule, case.lr, first_step + i)
            losses[i], params, state = optimizers.optimizer_step(
                params, state, X[:, idx], Y[:, idx], *net, lr, trainable, case.optimizer, case.clip)
    else:
        for i, idx in enumerate(batches):
            lr = optimizers.learning_rate(case.lr_schedule, case.lr, first_step + i)
            losses[i], params = step(params, X[:, idx], Y[:, idx], *net, lr, trainable)
    AL, caches = forward_propagation(X, params, case.activations)
    losses[-1] = compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction)
    return TrainResult(losses=losses, gradients=gradients, final_params=params,
                       final_outputs=AL, initial_outputs=initial_outputs, final_state=state)
