"""Data-parallel training as a JAX user writes it with optax: one jit-compiled update over a
1-D mesh of N devices, `shard_map` over the batch's examples, the losses and gradients summed
with `lax.psum`, then `optimizer.update` and `optax.apply_updates` on every device with the
same sums, so that the parameters and the optimizer's state (Adam's moments and count, the
schedule's position) stay replicated (docs/DATA-PARALLEL.md). On a CPU, the first N of
max(N, 8) host devices (the package's `data_parallel_environment`, set in the variant's
worker before jax starts).

Each update's batch is split into N contiguous shards whose sizes differ by at most one,
padded to one length with examples of weight 0 (comparisons.protocol.shards). Each device
sums its examples' optax losses (model.example_loss), weighted, times the batch's 1/m for
`mean`: optax's losses are per example, so the batch's count is the divisor a user has at
hand, never the shard's (the planted fault "shard-mean" divides by the shard's). World size 1
is `model.train` itself: one device has nothing to shard.
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from comparisons.protocol import TrainResult
from comparisons.protocol.case import slots_of
from comparisons.protocol.shards import padded

from . import model

AXIS = "batch"
FAULTS = ("shard-mean",)  # planted, for the test that shows it is caught


def data_parallel_missing(world_size, device="cpu", **_):
    """Why this machine cannot run it, or None (the host devices are made for the run; their
    count is the package's data_parallel_environment)."""
    if device != "cpu":
        return "jax-optax data-parallel runs on host CPU devices here; use --device cpu"
    return None


def _shard_map():
    if hasattr(jax, "shard_map"):
        return functools.partial(jax.shard_map, check_vma=False)
    from jax.experimental.shard_map import shard_map  # jax < 0.6
    return functools.partial(shard_map, check_rep=False)


@functools.lru_cache(maxsize=16)
def compiled_step(world_size: int, net, training: str, fault=None):
    """(optimizer, the jit-compiled update over a mesh of `world_size` devices, the mesh):
    `training` is model.make_optimizer's arguments as JSON."""
    optimizer = model.make_optimizer(**json.loads(training))
    mesh = Mesh(np.array(jax.devices("cpu")[:world_size]), (AXIS,))
    activations, loss, reduction = net

    def local(trainable, frozen, opt_state, X, Y, idx, weight, m_batch):
        idx, w = idx[0], weight[0]  # this device's shard

        def shard_loss(p):
            out = jax.vmap(lambda x: model.predict(p, x, activations,
                                                   loss in model.FUSED))(X[idx])
            per = jax.vmap(lambda o, y: model.example_loss(o, y, loss))(out, Y[idx])
            total = (per * w.astype(per.dtype)).sum()
            if reduction == "sum":
                return total
            count = jnp.maximum(w.sum(), 1.0) if fault == "shard-mean" else m_batch
            return total / count.astype(per.dtype)
        # every parameter's gradient, the frozen ones' too (the step-0 gradients report them);
        # the optimizer gets the trainable ones'
        value, grads = jax.value_and_grad(shard_loss)(trainable | frozen)
        value, grads = lax.psum((value, grads), AXIS)
        updates, opt_state = optimizer.update({k: grads[k] for k in trainable}, opt_state,
                                              trainable)
        new = optax.apply_updates(trainable, updates)
        mine = jax.tree.map(lambda x: x[None], new)  # every device's own copy, to compare
        return new, opt_state, value, grads, mine

    specs = (P(), P(), P(), P(), P(), P(AXIS), P(AXIS), P())
    step = jax.jit(_shard_map()(local, mesh=mesh, in_specs=specs,
                                out_specs=(P(), P(), P(), P(), P(AXIS))))
    return optimizer, step, mesh


def train_data_parallel(case, world_size, device="cpu", precision="default", fault=None):
    """Train `case` on a mesh of `world_size` devices; a TrainResult like model.train's, its
    step-0 gradients the first update's summed ones."""
    if fault not in (None, *FAULTS):
        raise ValueError(f"fault: expected one of {FAULTS}, got {fault!r}")
    if world_size == 1 or not case.updates:
        return model.train(case)
    if device != "cpu":
        raise ValueError(f"device {device!r}: jax-optax data-parallel runs on host CPU devices")
    have = len(jax.devices("cpu"))
    if have < world_size:
        raise RuntimeError(f"jax sees {have} CPU devices, {world_size} needed: start it with "
                           f"XLA_FLAGS=--xla_force_host_platform_device_count={world_size}")
    dtype = jnp.dtype(case.dtype)
    shapes = {k: np.shape(v) for k, v in case.params.items()}
    net = (tuple(case.activations), case.loss, case.reduction)
    optimizer, step, mesh = compiled_step(world_size, net, model.optimizer_arguments(case),
                                          fault)
    replicated, by_shard = NamedSharding(mesh, P()), NamedSharding(mesh, P(AXIS))
    put = lambda x: jax.device_put(x, replicated)  # noqa: E731
    Xh, Yh = jnp.asarray(case.X.T, dtype=dtype), jnp.asarray(case.Y.T, dtype=dtype)
    X, Y = put(Xh), put(Yh)
    params = {k: jnp.asarray(v[:, 0] if k[0] == "b" else v, dtype=dtype)
              for k, v in case.params.items()}
    trainable = put({k: p for k, p in params.items() if k in case.trainable_names})
    frozen = put({k: p for k, p in params.items() if k not in case.trainable_names})
    batches, _ = case.update_batches()
    batches = [np.arange(case.m)[b] if isinstance(b, slice) else np.asarray(b) for b in batches]
    idx, weight = padded(batches, world_size)
    opt_state = optimizer.init(trainable)
    start = 0 if case.initial_state is None else case.initial_state["step"]
    if start:
        opt_state = model.load_state(opt_state, case.initial_state, dtype)
    opt_state = put(opt_state)
    losses, gradients = [], None
    for u, b in enumerate(batches):
        trainable, opt_state, value, grads, mine = step(
            trainable, frozen, opt_state, X, Y, jax.device_put(idx[u], by_shard),
            jax.device_put(weight[u].astype(dtype), by_shard), put(jnp.asarray(len(b), dtype)))
        if gradients is None:
            gradients = {k: np.asarray(g).reshape(shapes[k]).copy() for k, g in grads.items()}
        losses.append(value)
    _same_everywhere(case, mine)
    final = {k: jnp.asarray(np.asarray(v)) for k, v in (trainable | frozen).items()}
    outputs, loss_and_grads = model.compiled_network(net)
    initial_outputs = np.asarray(outputs(params, Xh)).T.copy()
    losses.append(loss_and_grads(final, Xh, Yh)[0])
    state = None
    if case.stateful:
        state = model.read_state(opt_state, start + case.updates, slots_of(case.optimizer),
                                 shapes)
    return TrainResult(
        losses=np.array(jax.device_get(losses), dtype=case.dtype), gradients=gradients,
        final_params={k: np.asarray(v).reshape(shapes[k]).copy() for k, v in final.items()},
        final_outputs=np.asarray(outputs(final, Xh)).T.copy(), initial_outputs=initial_outputs,
        final_state=state)


def _same_everywhere(case, copies) -> None:
    """Every device must hold the same parameters bit for bit after the run."""
    for k in sorted(copies):
        shards_ = [np.asarray(s.data)[0] for s in copies[k].addressable_shards]
        if not all(np.array_equal(shards_[0], x) for x in shards_[1:]):
            raise RuntimeError(f"{case.name}: devices drifted apart: {k} differs")


__all__ = ["data_parallel_missing", "train_data_parallel"]
