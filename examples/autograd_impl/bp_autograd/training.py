"""Gradient descent with autograd gradients: batch, mini-batch and SGD, two schedules."""

import numpy as np

from reference.case import TrainResult

from .network import (activation_backward, backward_propagation, compute_loss,
                      forward_propagation, linear_backward_input,
                      linear_backward_weights, output_delta)


def as_array(a, dtype):
    return np.asarray(a, dtype=dtype)


def as_numpy(x):
    return np.asarray(x)


def cast(case):
    return (as_array(case.X, case.dtype), as_array(case.Y, case.dtype),
            {k: as_array(v, case.dtype) for k, v in case.params.items()})


def simultaneous_step(params, X, Y, activations, loss, reduction, lr, trainable):
    value, grads = backward_propagation(X, Y, params, activations, loss, reduction,
                                        input_grad=False, taps=False)
    return value, update_parameters(params, grads, lr, trainable)


def update_parameters(params, grads, lr, trainable):
    new = dict(params)
    for k in trainable:
        new[k] = params[k] - lr * grads["d" + k]
    return new


def sequential_step(params, X, Y, activations, loss, reduction, lr, trainable):
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
    _, grads = backward_propagation(X, Y, params, activations, loss, reduction,
                                    input_grad=False, taps=False)
    return {k: grads["d" + k] for k in params}


def train(case):
    """The protocol's train(case) -> TrainResult."""
    X, Y, params = cast(case)
    net = (case.activations, case.loss, case.reduction)
    step = STEPS[case.schedule]
    batches, first = case.update_batches()
    initial_outputs, _ = forward_propagation(X, params, case.activations)
    gradients = initial_gradients(params, X[:, first], Y[:, first], *net)
    losses = np.empty(case.updates + 1, dtype=case.dtype)
    for i, idx in enumerate(batches):
        losses[i], params = step(params, X[:, idx], Y[:, idx], *net, case.lr,
                                 case.trainable_names)
    AL, caches = forward_propagation(X, params, case.activations)
    losses[-1] = compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction)
    return TrainResult(losses=losses, gradients=gradients, final_params=params,
                       final_outputs=AL, initial_outputs=initial_outputs)
