"""Gradient descent with autograd gradients: batch, mini-batch and SGD, two schedules.

Same names and order as reference.training. `simultaneous` uses the whole-graph autograd
gradient; `sequential` updates layer L first and carries the delta down through the updated
weights with autograd's VJP of each layer (no hand-written derivative).
"""

import numpy as np
import torch

from comparisons.protocol import TrainResult

from .framework import precision_mode
from .precision import policy, to_params
from .network import (activation_backward, backward_propagation, compute_loss,
                      forward_propagation, linear_backward_input,
                      linear_backward_weights, output_delta)

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def as_array(a, dtype, device="cpu"):
    """A NumPy array as a torch tensor of `dtype` ("float64" or "float32")."""
    return torch.tensor(a, dtype=_DTYPES[dtype], device=device)


def as_numpy(x):
    """A torch tensor as a NumPy array."""
    return x.detach().cpu().numpy()


def cast(case, device="cpu"):
    """The case's X, Y and parameters as tensors of the case's dtype on `device`."""
    dtype = _DTYPES[case.dtype]
    t = lambda a: torch.tensor(a, dtype=dtype, device=device)
    return t(case.X), t(case.Y), {k: t(v) for k, v in case.params.items()}


def simultaneous_step(params, X, Y, activations, loss, reduction, lr, trainable):
    """One gradient-descent update with every gradient taken at the old parameters.
    Returns (loss before the update, new params)."""
    value, grads = backward_propagation(X, Y, params, activations, loss, reduction,
                                        input_grad=False)
    return value, update_parameters(params, grads, lr, trainable)


def update_parameters(params, grads, lr, trainable):
    """W[l] = W[l] - lr * dW[l], b[l] = b[l] - lr * db[l] for every trainable parameter
    (`grads` holds "dW1", "db1", ...; shapes as the parameters'); the others as they are."""
    new = dict(params)
    for k in trainable:
        new[k] = to_params(params[k] - lr * grads["d" + k])
    return new


def sequential_step(params, X, Y, activations, loss, reduction, lr, trainable):
    """One layer-wise update: for l = L..1, dW[l], db[l] from dZ[l]; update layer l; then
    dZ[l-1] from the VJP of layer l at its *updated* W[l] and of g[l-1] at Z[l-1].
    Returns (loss before the update, new params)."""
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


def train(case, device="cpu", precision="default"):
    """Run the case's training and return a `TrainResult` of NumPy arrays; on `device`, with
    the float32 matrix-product mode `precision` (set for the run, restored after it)."""
    with precision_mode(precision), policy(case.precision):
        return _train(case, device)


def _train(case, device):
    X, Y, params = cast(case, device)
    net = (case.activations, case.loss, case.reduction)
    step = STEPS[case.schedule]
    trainable = case.trainable_names
    batches, first = case.update_batches()
    if not isinstance(first, slice):
        batches = [torch.as_tensor(b, device=device) for b in batches]
        first = batches[0]
    losses = np.empty(case.updates + 1, dtype=case.dtype)
    with torch.no_grad():
        initial_outputs, _ = forward_propagation(X, params, case.activations)
        gradients = initial_gradients(params, X[:, first], Y[:, first], *net)
        for i, idx in enumerate(batches):
            value, params = step(params, X[:, idx], Y[:, idx], *net, case.lr, trainable)
            losses[i] = value.item()
        AL, caches = forward_propagation(X, params, case.activations)
        losses[-1] = compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction).item()
    return TrainResult(losses=losses, gradients={k: as_numpy(v) for k, v in gradients.items()},
                       final_params={k: as_numpy(v) for k, v in params.items()},
                       final_outputs=as_numpy(AL), initial_outputs=as_numpy(initial_outputs))
