"""Data-parallel training on torch.distributed: the batch of every update split over N ranks,
gradients all-reduced (docs/DATA-PARALLEL.md).

Each update's batch is split into N contiguous shards whose sizes differ by at most one (a
shard is empty when the batch has fewer than N samples). Each rank computes its shard's part of
the *batch's* loss, sum_j L_j over its samples times the batch's reduction factor (1 for sum,
/ m_batch for mean: never the shard's size), and its gradients by autograd; the gradients are
summed with all_reduce (never divided by N: pytorch#36516), and every rank applies the same
update. The sequential schedule all-reduces dW[l], db[l] layer by layer before carrying the
delta down. With N = 1 every operation is the single-process run's, so its numbers are
bitwise those of `torch_impl.training.train`.

Every rank keeps a running SHA-256 of its parameters after each update; at the end the digests
are gathered, and ranks that drifted apart make the run fail.

Processes: `train_data_parallel` starts N ranks with the env:// rendezvous on localhost (a free
port), each collective with a timeout, and ends every rank when one fails, when the timeout
passes or when the parent is gone. The ranks are forked from a fork server that has imported
torch once (multiprocessing's "forkserver", single-threaded, started on first use and ended
with this process): a rank then starts in milliseconds instead of paying torch's import
(2-3 s). The same ranks run as `python -m torch_impl.data_parallel` under `torchrun` across
machines, rank 0 writing the results block that `python -m comparisons verify` judges
(docs/DATA-PARALLEL.md, "Across machines"; tests/test_multinode.py):
    torchrun --nnodes 2 --nproc-per-node 2 --rdzv-backend c10d --rdzv-endpoint HOST:PORT \\
        -m torch_impl.data_parallel CASE.json RESULT.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import multiprocessing
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from multiprocessing.connection import wait as mp_wait

import numpy as np

from comparisons.protocol import TrainResult, load_case
from comparisons.protocol.shards import shard

from .framework import precision_mode

BACKENDS = ("gloo", "nccl")
DEFAULT_TIMEOUT = 600.0
# Planted faults, for the tests that show each is caught (tests/test_data_parallel.py):
# shard-mean: `mean` divided by the shard's size instead of the batch's (a classic bug);
# drift: rank 1 perturbs its first update; die: rank 1 exits during its first update.
FAULTS = ("shard-mean", "drift", "die")


_FAULT: list = [None]


def _shard_loss(AL, ZL, Y, loss, reduction, m_batch, net):
    """The shard's part of the batch's loss: sum over its samples times the batch's factor."""
    total = net.compute_loss(AL, ZL, Y, loss, "sum")
    if _FAULT[0] == "shard-mean":
        m_batch = max(Y.shape[1], 1)
    return total if reduction == "sum" else total / m_batch


def _all_reduce(tensors, world_size):
    import torch.distributed as dist
    if world_size > 1:
        for t in tensors:
            dist.all_reduce(t)  # SUM, in place
    return tensors


def simultaneous_step(params, X, Y, activations, loss, reduction, lr, trainable, m_batch,
                      world_size):
    """One update with every gradient at the old parameters: the shard's gradients by autograd,
    summed over the ranks. Returns (the batch's loss before the update, new params)."""
    import torch

    from . import network as net
    with torch.enable_grad():
        p = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        AL, caches = net.forward_propagation(X, p, activations)
        value = _shard_loss(AL, caches[-1]["Z"], Y, loss, reduction, m_batch, net)
        grads = torch.autograd.grad(value, list(p.values()))
    value = value.detach().clone()
    _all_reduce([value, *grads], world_size)
    new = dict(params)
    for k, g in zip(p, grads):
        if k in trainable:
            new[k] = params[k] - lr * g
    return value, new


def sequential_step(params, X, Y, activations, loss, reduction, lr, trainable, m_batch,
                    world_size):
    """One layer-wise update: for l = L..1, the shard's dW[l], db[l] summed over the ranks,
    layer l updated, then the shard's delta carried down through the updated W[l]."""
    from . import network as net
    AL, caches = net.forward_propagation(X, params, activations)
    L, ZL = len(activations), caches[-1]["Z"]
    value = _shard_loss(AL, ZL, Y, loss, reduction, m_batch, net).clone()
    # dZ[L] of the shard's part of the batch's loss, by autograd (as output_delta does)
    dZ = net.vjp(lambda z: _shard_loss(net.activation_forward(z, activations[-1]), z, Y, loss,
                                       reduction, m_batch, net), ZL, None)
    _all_reduce([value], world_size)
    new = dict(params)
    for l in range(L, 0, -1):
        dW, db = net.linear_backward_weights(dZ, caches[l - 1]["A_prev"])
        dW, db = _all_reduce([dW.clone(), db.clone()], world_size)
        if f"W{l}" in trainable:
            new[f"W{l}"] = params[f"W{l}"] - lr * dW
        if f"b{l}" in trainable:
            new[f"b{l}"] = params[f"b{l}"] - lr * db
        if l > 1:
            dA_prev = net.linear_backward_input(dZ, new[f"W{l}"])
            dZ = net.activation_backward(dA_prev, caches[l - 2]["Z"], activations[l - 2])
    return value, new


STEPS = {"simultaneous": simultaneous_step, "sequential": sequential_step}


def initial_gradients(params, X, Y, activations, loss, reduction, m_batch, world_size):
    """The batch's gradient at the initial parameters, from the shards, summed."""
    import torch

    from . import network as net
    with torch.enable_grad():
        p = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        AL, caches = net.forward_propagation(X, p, activations)
        value = _shard_loss(AL, caches[-1]["Z"], Y, loss, reduction, m_batch, net)
        grads = list(torch.autograd.grad(value, list(p.values())))
    return dict(zip(p, _all_reduce(grads, world_size)))


def _digest(h, params) -> None:
    for k in sorted(params):
        h.update(params[k].detach().cpu().numpy().tobytes())


def rank_main(cases, device="cpu", precision="default", backend="gloo",
              timeout=DEFAULT_TIMEOUT, fault=None):
    """One rank's runs of `cases`, in one process group from the environment (RANK,
    WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as torchrun sets them). Returns the TrainResults on
    rank 0, None on the others."""
    import torch.distributed as dist
    _FAULT[0] = fault
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        results = [_run(c, rank, world, device, precision, fault) for c in cases]
        return results if rank == 0 else None
    finally:
        dist.destroy_process_group()


def _run(case, rank, world, device, precision, fault):
    import torch
    import torch.distributed as dist


    from .network import compute_loss, forward_propagation
    from .training import as_numpy, cast
    if device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count()}"
    with precision_mode(precision), torch.no_grad():
        X, Y, params = cast(case, device)
        net = (case.activations, case.loss, case.reduction)
        step, trainable = STEPS[case.schedule], case.trainable_names
        batches = ([np.arange(case.m)] * case.updates if case.full_batch
                   else case.batch_order())
        first = batches[0] if batches else np.arange(case.m)
        mine = lambda idx: torch.as_tensor(idx[shard(len(idx), world, rank)],  # noqa: E731
                                           device=X.device)
        initial_outputs, _ = forward_propagation(X, params, case.activations)
        i0 = mine(first)
        gradients = initial_gradients(params, X[:, i0], Y[:, i0], *net, len(first), world)
        losses = np.empty(case.updates + 1, dtype=case.dtype)
        h = hashlib.sha256()
        for i, idx in enumerate(batches):
            if fault == "die" and rank == 1:
                os._exit(3)
            j = mine(idx)
            value, params = step(params, X[:, j], Y[:, j], *net, case.lr, trainable, len(idx),
                                 world)
            if fault == "drift" and rank == 1 and i == 0:
                params = {k: v * (1 + 1e-12) for k, v in params.items()}
            losses[i] = value.item()
            _digest(h, params)
        AL, caches = forward_propagation(X, params, case.activations)
        losses[-1] = compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction).item()
    digests = [None] * world
    dist.all_gather_object(digests, h.hexdigest())
    if len(set(digests)) != 1:
        raise RuntimeError(f"{case.name}: ranks drifted apart: their parameters differ after "
                           f"the run (digests {', '.join(d[:12] for d in digests)})")
    return TrainResult(losses=losses, gradients={k: as_numpy(v) for k, v in gradients.items()},
                       final_params={k: as_numpy(v) for k, v in params.items()},
                       final_outputs=as_numpy(AL), initial_outputs=as_numpy(initial_outputs))


def free_port() -> int:
    """A port free on localhost now (bound and released by the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_data_parallel(case, world_size, device="cpu", precision="default", backend=None,
                        timeout=DEFAULT_TIMEOUT, fault=None):
    """Train `case` on `world_size` ranks on this machine; the TrainResult of rank 0. Raises
    RuntimeError naming the rank and its error when one fails, and on timeout; every rank is
    ended before this returns."""
    return train_many([case], world_size, device, precision, backend, timeout, fault)[0]


# What the fork server imports once, for every rank it forks (a module it cannot import is
# skipped). symbolic_shapes: autograd.grad with a tensor cotangent imports it (and sympy) on
# first use, 0.6 s a process.
_PRELOAD = ["torch", "torch.distributed", "torch.fx.experimental.symbolic_shapes",
            "torch_impl.network", "torch_impl.training", "torch_impl.data_parallel",
            "comparisons.protocol"]
_CONTEXT: list = []


def _context():
    """The fork-server context of this process's ranks (its server starts on first use)."""
    if not _CONTEXT:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        _CONTEXT.append(ctx)
    return _CONTEXT[0]


def _rank_process(argv, env, log_path):
    """A forked rank: its own session (ended as a group), output to its log, the rendezvous
    environment, then `main(argv)`, as `python -m torch_impl.data_parallel` would run."""
    os.setsid()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.update(env)
    try:
        code = main(argv)
    except BaseException:  # noqa: BLE001  (the log says why; the exit status says that)
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _Rank:
    """A forked rank with Popen's poll() (exit status, or -N for a signal N)."""

    def __init__(self, argv, env, log_path):
        self.proc = _context().Process(target=_rank_process, args=(argv, env, log_path),
                                       daemon=False)
        self.proc.start()
        self.pid = self.proc.pid

    @property
    def sentinel(self):
        """Ready (multiprocessing.connection.wait) when the rank has ended."""
        return self.proc.sentinel

    def poll(self):
        return self.proc.exitcode

    def wait(self, timeout):
        self.proc.join(timeout)
        if self.proc.exitcode is None:
            raise subprocess.TimeoutExpired("rank", timeout)
        return self.proc.exitcode


def train_many(cases, world_size, device="cpu", precision="default", backend=None,
               timeout=DEFAULT_TIMEOUT, fault=None):
    """`train_data_parallel` of several cases in one process group (one start-up)."""
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size: expected a whole number >= 1, got {world_size!r}")
    if fault not in (None, *FAULTS):
        raise ValueError(f"fault: expected one of {FAULTS}, got {fault!r}")
    backend = backend or ("nccl" if device == "cuda" else "gloo")
    tmp = tempfile.mkdtemp(prefix="bp-dp-")
    case_file, out_file = os.path.join(tmp, "cases.pkl"), os.path.join(tmp, "result.npz")
    with open(case_file, "wb") as f:
        pickle.dump(list(cases), f)
    env = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE=str(world_size), BP_DP_PARENT=str(os.getpid()))
    argv = [case_file, out_file, "--device", device, "--precision", precision, "--backend",
            backend, "--timeout", str(timeout)] + (["--fault", fault] if fault else [])
    procs, logs = [], []
    try:
        for rank in range(world_size):
            log = open(os.path.join(tmp, f"rank{rank}.log"), "w+")
            logs.append(log)
            procs.append(_Rank(argv, dict(env, RANK=str(rank), LOCAL_RANK=str(rank)), log.name))
        end, ended = time.monotonic() + timeout, []
        while len(ended) < world_size:  # the first failure ends the run; never wait on a
            # rank that cannot finish. Woken by each rank's end, so that the rank named is the
            # first to fail (the cause), not a peer that failed because it was gone.
            left = end - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"data-parallel run timed out after {timeout:g} s")
            ready = set(mp_wait([p.sentinel for r, p in enumerate(procs) if r not in ended],
                                timeout=left))
            ended += [r for r, p in enumerate(procs) if p.sentinel in ready]
            failed = [r for r in ended if procs[r].poll() != 0]
            if failed:
                # The cause before a peer that lost it (found in CI: rank 0's "Connection
                # reset by peer" beside rank 1's own exit): the ranks ending within a second
                # are looked at together
                late = set(mp_wait([p.sentinel for r, p in enumerate(procs) if r not in ended],
                                   timeout=1.0))
                ended += [r for r, p in enumerate(procs) if p.sentinel in late]
                failed = [r for r in ended if procs[r].poll() != 0]
                causes = [r for r in failed if not _PEER_LOST.search(_last_line(logs[r]))]
                r = (causes or failed)[0]
                raise RuntimeError(f"data-parallel rank {r} of {world_size} failed "
                                   f"({_how(procs[r].poll())}): {_last_line(logs[r])}")
        with np.load(out_file) as z:
            d = {k: z[k] for k in z.files}
        def group(i, prefix):  # "{i}/grad:W1" -> {"W1": ...}
            return {k.split(":", 1)[1]: v for k, v in d.items() if k.startswith(f"{i}/{prefix}:")}
        return [TrainResult(losses=d[f"{i}/losses"], gradients=group(i, "grad"),
                            final_params=group(i, "param"), final_outputs=d[f"{i}/final_outputs"],
                            initial_outputs=d[f"{i}/initial_outputs"])
                for i in range(len(cases))]
    finally:
        for p in procs:
            _end(p)
        for log in logs:
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _how(code) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


# What a rank says when a peer is gone: a consequence, not a cause
_PEER_LOST = re.compile(r"Connection (reset|closed) by peer|Broken pipe|gloo/transport")


def _last_line(log) -> str:
    log.flush()
    log.seek(0)
    lines = [x.strip() for x in log.read().splitlines() if x.strip()]
    errors = [x for x in lines if "Error" in x or "error" in x]
    return (errors or lines or ["no output"])[-1][:400]


def _end(p) -> None:
    """End a rank and whatever it started: its session's group, or the rank alone when it has
    not reached setsid yet."""
    if p.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except OSError:
                with contextlib.suppress(OSError):
                    os.kill(p.pid, sig)
            try:
                p.wait(3)
                return
            except subprocess.TimeoutExpired:
                continue


def _watch_parent() -> None:
    """Exit when the process that started the ranks is gone (a forked rank's parent is the
    fork server, so the launcher's pid is watched, not the parent's)."""
    parent = int(os.environ.get("BP_DP_PARENT", "0") or 0)
    while parent:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(70)
        except OSError:
            pass
        time.sleep(0.5)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m torch_impl.data_parallel",
                                 description="one rank of a data-parallel run (or every rank, "
                                             "under torchrun)")
    ap.add_argument("case", help="a case file (.json/.toml) or a pickled list of Cases (.pkl)")
    ap.add_argument("out", help="where rank 0 writes the results: a .json results block (the "
                                "`run --json` format, which `python -m comparisons verify` "
                                "judges) for one case, or .npz")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="default")
    ap.add_argument("--backend", default=None, choices=BACKENDS)
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    ap.add_argument("--fault", choices=FAULTS, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    threading.Thread(target=_watch_parent, daemon=True).start()
    if a.case.endswith(".pkl"):
        with open(a.case, "rb") as f:
            cases = pickle.load(f)
    else:
        cases = [load_case(a.case)]
    results = rank_main(cases, a.device, a.precision,
                        a.backend or ("nccl" if a.device == "cuda" else "gloo"), a.timeout,
                        a.fault)
    if results is not None and a.out.endswith(".json"):
        if len(results) != 1:
            raise SystemExit(f"{a.out}: a results block holds one case; got {len(results)}")
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(results[0].to_dict()) + "\n")
        os.replace(tmp, a.out)
    elif results is not None:
        arrays = {}
        for i, r in enumerate(results):
            arrays.update({f"{i}/losses": r.losses, f"{i}/final_outputs": r.final_outputs,
                           f"{i}/initial_outputs": r.initial_outputs})
            arrays.update({f"{i}/grad:{k}": v for k, v in r.gradients.items()})
            arrays.update({f"{i}/param:{k}": v for k, v in r.final_params.items()})
        tmp = a.out + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
