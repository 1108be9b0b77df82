"""Gradient descent with JAX gradients: batch, mini-batch and SGD, two schedules, compiled.

Same names and order as reference.training. A whole run is one `jax.jit`-compiled
`lax.scan` over the case's batch order (shared data, never re-drawn here): a 10,000-update
run costs milliseconds once compiled. Batches of unequal size (the short last mini-batch of
an epoch) are handled by scanning over epochs, each epoch one scan per run of equal sizes,
so every step sees exactly the reference's batch, with no padding.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from comparisons.protocol import TrainResult

from .framework import precision_mode
from .precision import policy, to_params
from .network import (activation_backward, backward_propagation, compute_loss,
                      forward_propagation, linear_backward_input,
                      linear_backward_weights, output_delta)

_DTYPES = {"float64": jnp.float64, "float32": jnp.float32}


def as_array(a, dtype):
    """A NumPy array as a JAX array of `dtype` ("float64" or "float32")."""
    return jnp.asarray(a, dtype=_DTYPES[dtype])


def as_numpy(x):
    """A JAX array as a NumPy array."""
    return np.asarray(x)


def cast(case):
    """The case's X, Y and parameters as JAX arrays of the case's dtype."""
    dtype = _DTYPES[case.dtype]
    t = lambda a: jnp.asarray(a, dtype=dtype)
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


# `rounding`: the case's reduced-precision policy as a hashable key (precision.py reads the
# policy while tracing, so a program compiled under one policy is never reused under another)
_STATIC = ("net", "schedule", "trainable", "full_batch", "rounding")


def _scan(params, X, Y, idx, lr, net, schedule, trainable, full_batch):
    """lax.scan of one step per row of idx ((updates, batch) int array); with full_batch,
    idx is an (updates, 0) array and every step uses all of X in data order."""
    step = STEPS[schedule]

    def body(p, i):
        Xb, Yb = (X, Y) if full_batch else (X[:, i], Y[:, i])
        value, new = step(p, Xb, Yb, *net, lr, trainable)
        return new, value

    return lax.scan(body, params, idx)


def _scan_epochs(params, X, Y, runs, lr, net, schedule, trainable, full_batch):
    """runs: tuple of (epochs, count, size) index arrays, one per run of equal batch sizes
    within an epoch; scans over epochs, and within an epoch over each run in turn."""
    if len(runs) == 1:
        return _scan(params, X, Y, runs[0], lr, net, schedule, trainable, full_batch)

    def epoch(p, idx_runs):
        values = []
        for idx in idx_runs:
            p, v = _scan(p, X, Y, idx, lr, net, schedule, trainable, full_batch)
            values.append(v)
        return p, jnp.concatenate(values)

    params, values = lax.scan(epoch, params, runs)
    return params, values.reshape(-1)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _train(params, X, Y, first, runs, lr, net, schedule, trainable, full_batch, rounding):
    """One compiled program: the gradient at the initial parameters on the first batch, every
    update, and the final outputs and loss on the full data."""
    gradients = initial_gradients(params, X[:, first], Y[:, first], *net)
    initial_outputs, _ = forward_propagation(X, params, net[0])
    params, values = _scan_epochs(params, X, Y, runs, lr, net, schedule, trainable, full_batch)
    AL, caches = forward_propagation(X, params, net[0])
    final = compute_loss(AL, caches[-1]["Z"], Y, net[1], net[2])
    return gradients, params, values, AL, final, initial_outputs


def _runs(sizes):
    """[(size, count), ...]: consecutive runs of equal batch sizes."""
    out = []
    for s in sizes:
        if out and out[-1][0] == s:
            out[-1][1] += 1
        else:
            out.append([s, 1])
    return out


def _period(sizes):
    """The shortest P such that the size sequence is sizes[:P] repeated, or None."""
    n = len(sizes)
    for P in range(1, min(n, 4096) + 1):
        if n % P == 0 and sizes[P:] == sizes[:-P]:
            return P
    return None


def _plan(case):
    """The batch order as scan inputs: (runs, full_batch), runs as in `_scan_epochs`, or
    (None, False) when the sizes have no period (then each run of equal sizes is its own
    scan)."""
    if case.full_batch or case.updates == 0:
        return (jnp.zeros((case.updates, 0), jnp.int32),), True
    batches = case.batch_order()
    sizes = [len(b) for b in batches]
    P = _period(sizes)
    if P is None:
        return None, False
    if P == 1:
        return (jnp.asarray(np.stack(batches)),), False
    n = len(batches)
    E, runs, start = n // P, [], 0
    for _, count in _runs(sizes[:P]):
        runs.append(jnp.asarray(np.stack(
            [np.stack(batches[e * P + start:e * P + start + count]) for e in range(E)])))
        start += count
    return tuple(runs), False


# Compiled programs kept at most: each maps ~60 memory regions and ~4 MB, and the kernel allows
# 65,530 mappings per process; a campaign of new shapes would otherwise abort in LLVM.
MAX_PROGRAMS = 64


def train(case, device="cpu", precision="default"):
    """Run the case's training and return a `TrainResult` of NumPy arrays; on `device` (its
    first), with the float32 matrix-product mode `precision` (set for the run, restored after
    it; part of jit's cache key, so a program compiled in one mode is never reused in the
    other)."""
    platform = {"cuda": "gpu"}.get(device, device)
    with (precision_mode(precision), jax.default_device(jax.devices(platform)[0]),
          policy(case.precision)):
        return _run(case)


def _run(case):
    if _train._cache_size() >= MAX_PROGRAMS:
        _train.clear_cache()
    X, Y, params = cast(case)
    static = dict(net=(tuple(case.activations), case.loss, case.reduction),
                  schedule=case.schedule, trainable=case.trainable_names,
                  rounding=None if case.precision is None else tuple(sorted(
                      case.precision.items())))
    lr = jnp.asarray(case.lr, dtype=X.dtype)
    runs, full_batch = _plan(case)
    first = (jnp.arange(case.m) if full_batch else jnp.asarray(case.batch_order()[0]))
    if runs is not None:
        gradients, params, values, AL, final, initial = _train(
            params, X, Y, first, runs, lr, full_batch=full_batch, **static)
    else:  # no period in the batch sizes: one compiled scan per run of equal sizes
        batches = case.batch_order()
        values, start = [], 0
        for _, count in _runs([len(b) for b in batches]):
            idx = (jnp.asarray(np.stack(batches[start:start + count])),)
            g, params, v, AL, final, i0 = _train(params, X, Y, first, idx, lr,
                                                 full_batch=False, **static)
            gradients, initial = (g, i0) if start == 0 else (gradients, initial)
            values.append(v)
            start += count
        values = jnp.concatenate(values)
    losses = np.concatenate([np.asarray(values), np.asarray(final)[None]]).astype(case.dtype)
    numpy = lambda a: np.asarray(a)
    return TrainResult(losses=losses, gradients={k: numpy(v) for k, v in gradients.items()},
                       final_params={k: numpy(v) for k, v in params.items()},
                       final_outputs=numpy(AL), initial_outputs=numpy(initial))
