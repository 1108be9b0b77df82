"""Data-parallel training in JAX: the whole run one jit-compiled program over a 1-D mesh of N
devices, the batch axis sharded (`shard_map`, gradients summed with `psum`); on a CPU, N host
devices (`--xla_force_host_platform_device_count=N`, set by `data_parallel_environment` in the
worker's environment before jax starts). docs/DATA-PARALLEL.md.

Each update's batch is split into N contiguous shards whose sizes differ by at most one (as
`torch_impl.data_parallel.shard`), padded to one length with samples of weight 0: a padded
sample's loss is multiplied by an exact 0, so it adds exact zeros to every sum. Each device
computes by autograd its shard's part of the *batch's* loss (sum over its samples, times the
batch's 1/m for mean); the gradients are summed over the mesh (`psum`, never divided by N);
every device applies the same update. The sequential schedule sums dW[l], db[l] layer by layer
before carrying the delta down. World size 1 is the single-process program itself
(`jax_impl.training.train`): one device has nothing to shard.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys

import numpy as np

from comparisons.protocol import TrainResult, load_case
from comparisons.protocol.shards import padded

from .framework import precision_mode

AXIS = "ranks"


# Host devices a data-parallel worker gets at least: one environment for world sizes 1-8, so
# that one warm worker (comparisons.execution.workers.acquire) serves them all. A mesh on the first N of
# 8 devices computed bit for bit what a mesh of N of N does (every case and world size of
# tests/test_data_parallel.py, jax 0.10.2, 2026-11-24).
HOST_DEVICES = 8


def data_parallel_environment(world_size: int) -> dict:
    """The XLA flag that gives this process max(world_size, HOST_DEVICES) CPU devices (before
    jax starts)."""
    n = max(world_size, HOST_DEVICES)
    return {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
            "JAX_NUM_CPU_DEVICES": str(n)}


def _shard_map():
    import jax
    if hasattr(jax, "shard_map"):
        return functools.partial(jax.shard_map, check_vma=False)
    from jax.experimental.shard_map import shard_map  # jax < 0.6
    return functools.partial(shard_map, check_rep=False)


def plan(case, world_size: int):
    """(index, weight, m_batch): (updates, N, s) sample indices of every update's N shards,
    padded to s with index 0 and weight 0 (comparisons.protocol.shards.padded), and each
    update's batch size."""
    batches = ([np.arange(case.m)] * case.updates if case.full_batch else case.batch_order())
    idx, weight = padded(batches, world_size)
    return idx, weight, np.array([len(b) for b in batches], dtype=np.float64)


FAULTS = ("shard-mean",)  # planted, for the test that shows it is caught


def _shard_loss(AL, ZL, Y, w, m_batch, loss, reduction, fault=None):
    """Sum over the shard's samples of their loss, weighted 1 (real) or 0 (padding), times the
    batch's factor (with the planted fault "shard-mean", the shard's size instead)."""
    import jax

    from .network import compute_loss
    per = jax.vmap(lambda a, z, y: compute_loss(a[:, None], z[:, None], y[:, None], loss, "sum"),
                   in_axes=1)(AL, ZL, Y)
    total = (per * w.astype(per.dtype)).sum()
    if fault == "shard-mean":
        m_batch = jax.numpy.maximum(w.sum(), 1.0)
    return total if reduction == "sum" else total / m_batch.astype(per.dtype)


def _step(params, X, Y, w, m_batch, net, schedule, lr, trainable, fault):
    """One update on this device's shard (inside shard_map); sums over the mesh with psum."""
    import jax
    from jax import lax

    from .network import (activation_backward, activation_forward, forward_propagation,
                          linear_backward_input, linear_backward_weights, vjp)
    activations, loss, reduction = net
    if schedule == "simultaneous":
        def f(p):
            AL, caches = forward_propagation(X, p, activations)
            return _shard_loss(AL, caches[-1]["Z"], Y, w, m_batch, loss, reduction, fault)
        value, grads = jax.value_and_grad(f)(params)
        value, grads = lax.psum((value, grads), AXIS)
        new = {k: params[k] - lr * grads[k] if k in trainable else params[k] for k in params}
        return value, new
    AL, caches = forward_propagation(X, params, activations)
    L, ZL = len(activations), caches[-1]["Z"]
    value = lax.psum(_shard_loss(AL, ZL, Y, w, m_batch, loss, reduction, fault), AXIS)
    dZ = vjp(lambda z: _shard_loss(activation_forward(z, activations[-1]), z, Y, w, m_batch,
                                   loss, reduction, fault), ZL, None)
    new = dict(params)
    for l in range(L, 0, -1):
        dW, db = lax.psum(linear_backward_weights(dZ, caches[l - 1]["A_prev"]), AXIS)
        if f"W{l}" in trainable:
            new[f"W{l}"] = params[f"W{l}"] - lr * dW
        if f"b{l}" in trainable:
            new[f"b{l}"] = params[f"b{l}"] - lr * db
        if l > 1:
            dA_prev = linear_backward_input(dZ, new[f"W{l}"])
            dZ = activation_backward(dA_prev, caches[l - 2]["Z"], activations[l - 2])
    return value, new


@functools.lru_cache(maxsize=32)
def _program(world_size, net, schedule, trainable, fault):
    """The compiled run: step-0 gradients, every update, for one mesh and network."""
    import jax
    from jax import lax
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    from .network import forward_propagation
    mesh = Mesh(np.array(jax.devices("cpu")[:world_size]), (AXIS,))

    def local(params, X, Y, idx, weight, m_batch, lr):
        idx, weight = idx[:, 0], weight[:, 0]  # this device's shard of every update

        def grads0(p):
            AL, caches = forward_propagation(X[:, idx[0]], p, net[0])
            return _shard_loss(AL, caches[-1]["Z"], Y[:, idx[0]], weight[0], m_batch[0], net[1],
                               net[2], fault)
        gradients = lax.psum(jax.grad(grads0)(params), AXIS)

        def body(p, u):
            i, w, m = u
            return _step(p, X[:, i], Y[:, i], w, m, net, schedule, lr, trainable, fault)[::-1]
        params, values = lax.scan(body, params, (idx, weight, m_batch))
        mine = jax.tree.map(lambda x: x[None], params)  # every device's own copy, to compare
        return gradients, params, values, mine

    specs = (P(), P(), P(), P(None, AXIS), P(None, AXIS), P(), P())
    run = jax.jit(_shard_map()(local, mesh=mesh, in_specs=specs,
                               out_specs=(P(), P(), P(), P(AXIS))))
    return run, mesh, specs


def _global(x, mesh, spec):
    """`x` (the same whole value in every process) as a global array on `mesh` laid out by
    `spec`: each process supplies the shards of its own devices, so one program serves one
    process or many (jax.distributed)."""
    import jax
    from jax.sharding import NamedSharding
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, NamedSharding(mesh, spec), lambda i: x[i])


def _local(x) -> np.ndarray:
    """A replicated output as a NumPy array, from this process's own copy."""
    return np.asarray(x.addressable_data(0))


def train_data_parallel(case, world_size, device="cpu", precision="default", fault=None):
    """Train `case` on a mesh of `world_size` devices; a TrainResult like `train`'s."""
    if fault not in (None, *FAULTS):
        raise ValueError(f"fault: expected one of {FAULTS}, got {fault!r}")

    from . import training
    from .network import compute_loss, forward_propagation
    if world_size == 1:
        return training.train(case, device=device, precision=precision)
    import jax
    import jax.numpy as jnp
    if device != "cpu":
        raise ValueError(f"device {device!r}: jax data-parallel runs on host CPU devices here")
    have = len(jax.devices("cpu"))
    if have < world_size:
        raise RuntimeError(f"jax sees {have} CPU devices, {world_size} needed: start it with "
                           f"XLA_FLAGS=--xla_force_host_platform_device_count={world_size}")
    if not case.updates:
        return training.train(case, device=device, precision=precision)
    with precision_mode(precision):
        X, Y, initial_params = training.cast(case)
        idx, weight, m_batch = plan(case, world_size)
        run, mesh, specs = _program(world_size, (tuple(case.activations), case.loss,
                                                 case.reduction), case.schedule,
                                    case.trainable_names, fault)
        lr = np.asarray(case.lr, dtype=case.dtype)
        args = [{k: _global(v, mesh, specs[0]) for k, v in initial_params.items()}] + [
            _global(a, mesh, spec) for a, spec in zip((X, Y, idx, weight, m_batch, lr), specs[1:])]
        gradients, params, values, copies = run(*args)
        _same_everywhere(case, copies)
        gradients = {k: _local(v) for k, v in gradients.items()}
        params = {k: jnp.asarray(_local(v)) for k, v in params.items()}
        values = _local(values)
        initial, _ = forward_propagation(X, initial_params, case.activations)
        AL, caches = forward_propagation(X, params, case.activations)
        final = compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction)
    losses = np.concatenate([np.asarray(values), np.asarray(final)[None]]).astype(case.dtype)
    return TrainResult(losses=losses, gradients={k: np.asarray(v) for k, v in gradients.items()},
                       final_params={k: np.asarray(v) for k, v in params.items()},
                       final_outputs=np.asarray(AL), initial_outputs=np.asarray(initial))


def _same_everywhere(case, copies) -> None:
    """Every device, in every process, must hold the same parameters bit for bit: each
    process compares its devices' copies, then the processes compare digests."""

    import jax
    h = hashlib.sha256()
    for k in sorted(copies):
        shards = [np.asarray(s.data)[0] for s in copies[k].addressable_shards]
        if not all(np.array_equal(shards[0], x) for x in shards[1:]):
            raise RuntimeError(f"{case.name}: devices drifted apart: {k} differs")
        h.update(shards[0].tobytes())
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        digests = np.asarray(multihost_utils.process_allgather(
            np.frombuffer(h.digest(), dtype=np.uint8)))
        if not all(np.array_equal(digests[0], d) for d in digests[1:]):
            raise RuntimeError(f"{case.name}: processes drifted apart: their parameters differ")


def data_parallel_missing(world_size, device="cpu", **_):
    """Why this machine cannot run it, or None (jax's host devices are made for the run)."""
    if device != "cpu":
        return "jax data-parallel runs on host CPU devices here; use --device cpu"
    return None


# The launcher's settings, as options or environment variables (any launcher that sets them:
# a shell loop, mpirun's wrapper, a cluster's job script).
ENV = {"coordinator": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
       "process_id": "JAX_PROCESS_ID", "local_devices": "JAX_LOCAL_DEVICES"}


def main(argv=None) -> int:
    """One process of a data-parallel run across processes (or machines): every process reads
    the same case file; the global devices are every process's local ones; process 0 writes the
    results block (the `run --json` format, comparisons/GOLDEN.md), which
    `python -m comparisons verify CASE OUT.json` judges."""
    ap = argparse.ArgumentParser(prog="python -m jax_impl.data_parallel",
                                 description="one process of a jax data-parallel run across "
                                             "processes (jax.distributed)")
    ap.add_argument("case", help="a case file (.json/.toml)")
    ap.add_argument("out", help="where process 0 writes the results block (.json)")
    ap.add_argument("--coordinator", default=os.environ.get(ENV["coordinator"]),
                    help=f"HOST:PORT of process 0's coordinator (${ENV['coordinator']})")
    ap.add_argument("--num-processes", type=int,
                    default=int(os.environ.get(ENV["num_processes"], "1")),
                    help=f"how many processes (${ENV['num_processes']}; default 1)")
    ap.add_argument("--process-id", type=int, default=int(os.environ.get(ENV["process_id"], "0")),
                    help=f"this process's id, 0..P-1 (${ENV['process_id']})")
    ap.add_argument("--local-devices", type=int,
                    default=int(os.environ.get(ENV["local_devices"], "1")),
                    help=f"CPU devices in this process (${ENV['local_devices']}; default 1)")
    ap.add_argument("--timeout", type=int, default=300,
                    help="seconds to wait for the other processes, and for a missing one")
    ap.add_argument("--fault", choices=("die",), help=argparse.SUPPRESS)  # tests: process 1 dies
    a = ap.parse_args(argv)
    if a.num_processes > 1 and not a.coordinator:
        ap.error(f"--coordinator (or ${ENV['coordinator']}): needed with "
                 f"--num-processes {a.num_processes}")
    if not 0 <= a.process_id < a.num_processes or a.local_devices < 1:
        ap.error(f"--process-id {a.process_id} of {a.num_processes} processes, "
                 f"--local-devices {a.local_devices}: expected 0 <= id < processes, devices >= 1")
    # before jax starts: this process's CPU devices
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                               f"device_count={a.local_devices}").strip()
    os.environ["JAX_NUM_CPU_DEVICES"] = str(a.local_devices)
    case = load_case(a.case)
    import jax
    if a.num_processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(a.coordinator, a.num_processes, a.process_id,
                                   initialization_timeout=a.timeout,
                                   heartbeat_timeout_seconds=max(10, a.timeout // 10),
                                   shutdown_timeout_seconds=a.timeout)
    if a.fault == "die" and a.process_id == 1:
        os._exit(3)  # a node lost after it joined: the others must fail, not hang
    try:
        world = len(jax.devices("cpu"))
        result = train_data_parallel(case, world)
        if jax.process_index() == 0:
            tmp = a.out + ".tmp"
            with open(tmp, "w") as f:
                f.write(json.dumps(result.to_dict()) + "\n")
            os.replace(tmp, a.out)
    finally:
        if a.num_processes > 1:
            jax.distributed.shutdown()
    print(f"process {a.process_id}: {world} devices, {case.updates} updates", file=sys.stderr)
    return 0


__all__ = ["data_parallel_environment", "data_parallel_missing", "main", "plan",
           "train_data_parallel"]

if __name__ == "__main__":
    sys.exit(main())
