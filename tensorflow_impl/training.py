"""Gradient descent with tf.GradientTape gradients: batch, mini-batch and SGD, two schedules.

Same names and order as reference.training. A whole run is one tf.function: a tf.while_loop
over the case's batch order, given as one flat array of sample indices with the offset of
every update's batch (so a short last batch needs no padding and no retrace).
"""

import functools

import numpy as np

from .framework import logs_filtered

with logs_filtered():
    import tensorflow as tf

from comparisons.protocol import TrainResult

from .framework import precision_mode
from .precision import policy, to_params
from .network import (activation_backward, backward_propagation, compute_loss,
                      forward_propagation, linear_backward_input,
                      linear_backward_weights, output_delta)

_DTYPES = {"float64": tf.float64, "float32": tf.float32}


def as_array(a, dtype):
    """A NumPy array as a TensorFlow tensor of `dtype` ("float64" or "float32")."""
    return tf.constant(np.asarray(a), dtype=_DTYPES[dtype])


def as_numpy(x):
    """A TensorFlow tensor as a NumPy array."""
    return np.asarray(x)


def cast(case):
    """The case's X, Y and parameters as tensors of the case's dtype."""
    return (as_array(case.X, case.dtype), as_array(case.Y, case.dtype),
            {k: as_array(v, case.dtype) for k, v in case.params.items()})


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


def _program(case):
    """The whole run as one tf.function of (params, X, Y, flat indices, offsets, lr), one per
    network, schedule and batching: tf.function traces again only for new shapes or dtypes,
    as a TensorFlow user's training function does (the suite's one-update runs share one)."""
    return _compiled((tuple(case.activations), case.loss, case.reduction), case.schedule,
                     case.trainable_names, case.full_batch,
                     None if case.precision is None else tuple(sorted(case.precision.items())))


@functools.lru_cache(maxsize=64)
def _compiled(net, schedule, trainable, full, rounding):
    """The run's tf.function; `rounding`, the reduced-precision policy it is traced under
    (precision.py reads it while tracing), is part of the key."""
    step = STEPS[schedule]

    def batch(X, Y, flat, offsets, t):
        if full:  # every update uses all of X in data order: no gather
            return X, Y
        idx = flat[offsets[t]:offsets[t + 1]]
        return tf.gather(X, idx, axis=1), tf.gather(Y, idx, axis=1)

    @tf.function
    def run(params, X, Y, flat, offsets, lr):
        Xb, Yb = batch(X, Y, flat, offsets, 0)
        gradients = initial_gradients(params, Xb, Yb, *net)
        initial_outputs, _ = forward_propagation(X, params, net[0])
        updates = tf.shape(offsets)[0] - 1
        values = tf.TensorArray(X.dtype, size=updates)

        def body(t, p, values):
            value, p = step(p, *batch(X, Y, flat, offsets, t), *net, lr, trainable)
            return t + 1, p, values.write(t, value)

        _, params, values = tf.while_loop(lambda t, p, v: t < updates, body,
                                          (tf.constant(0), params, values))
        AL, caches = forward_propagation(X, params, net[0])
        final = compute_loss(AL, caches[-1]["Z"], Y, net[1], net[2])
        return gradients, params, values.stack(), AL, final, initial_outputs

    return run


def train(case, device="cpu", precision="default"):
    """Run the case's training and return a `TrainResult` of NumPy arrays; on `device`, with
    the float32 matrix-product mode `precision` (set for the run, restored after it)."""
    place = "/GPU:0" if device in ("cuda", "gpu") else "/CPU:0"
    with precision_mode(precision), tf.device(place), policy(case.precision):
        X, Y, params = cast(case)
        batches, first = case.update_batches()
        if isinstance(first, slice):  # all of X at every update: the offsets only count them
            flat, offsets = tf.zeros([0], tf.int64), tf.zeros([case.updates + 1], tf.int64)
        else:
            sizes = [len(b) for b in batches]
            flat = tf.constant(np.concatenate(batches), dtype=tf.int64)
            offsets = tf.constant(np.concatenate([[0], np.cumsum(sizes)]), dtype=tf.int64)
        lr = tf.constant(case.lr, dtype=X.dtype)
        gradients, params, values, AL, final, initial = _program(case)(
            params, X, Y, flat, offsets, lr)
    losses = np.concatenate([as_numpy(values), [as_numpy(final)]]).astype(case.dtype)
    return TrainResult(losses=losses, gradients={k: as_numpy(v) for k, v in gradients.items()},
                       final_params={k: as_numpy(v) for k, v in params.items()},
                       final_outputs=as_numpy(AL), initial_outputs=as_numpy(initial))
