"""Data-parallel training as a PyTorch user writes it: `torch.multiprocessing.spawn` starts N
ranks, each joins a gloo process group and wraps the model in
`torch.nn.parallel.DistributedDataParallel`, and `torch.optim` and the scheduler step on every
rank after DDP's reducer has averaged the gradients (docs/DATA-PARALLEL.md).

Each update's batch is split into N contiguous shards whose sizes differ by at most one (empty
when the batch has fewer than N samples). Each rank's loss is its shard's part of the batch's
loss, its sum times 1/m for `mean`, so that the ranks' gradients add up to the batch's
whatever the shards' sizes (a shard's own mean, the idiom for equal shards, is the planted
fault "shard-mean"). DDP's default reducer averages (divides the sum by N), which for N not a
power of two adds a rounding to every gradient (pytorch#36516; TOLERANCES.md, "Data-parallel
runs"): the DDP here sums instead, through a communication hook (`register_comm_hook`, DDP's
own extension point for what its buckets do). The step-0 gradients, of every
parameter including frozen ones (DDP reduces only those that train), are each rank's
autograd.grad of its shard's part of the batch's loss, summed with all_reduce. Every rank
hashes its parameters after the run; ranks that differ fail it. Each rank ends itself when the
process that spawned it is gone, and every collective has a timeout.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pickle
import socket
import sys
import tempfile
import threading
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from comparisons.protocol import TrainResult, load_case
from comparisons.protocol.case import slots_of
from comparisons.protocol.shards import shard

from . import model

DEFAULT_TIMEOUT = 300.0
# Planted, for the tests that show each is caught: shard-mean, each rank's mean over its own
# shard; die, rank 1 exits during its first update.
FAULTS = ("shard-mean", "die")


def data_parallel_missing(world_size, device="cpu", **_):
    """Why this machine cannot run `world_size` ranks, or None."""
    if device != "cpu":
        return "torch-nn data-parallel runs on the CPU (gloo) here; use --device cpu"
    if not dist.is_available() or not dist.is_gloo_available():
        return "this torch build has no torch.distributed with gloo"
    return None


def _sum_hook(_, bucket):
    """DDP's communication hook that sums a bucket of gradients over the ranks (its default
    one divides the sum by N)."""
    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(
        lambda fut: fut.value()[0])


def _watch_parent(parent: int) -> None:
    """End this rank when the process that spawned it is gone (no orphan)."""
    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _rank(rank, world_size, port, case, out, timeout, fault, parent):
    _watch_parent(parent)
    torch.set_num_threads(1)  # N ranks share the machine's cores
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout))
    try:
        result = _run(case, rank, world_size, fault)
        if rank == 0:
            with open(out, "wb") as f:
                pickle.dump(result, f)
    finally:
        dist.destroy_process_group()
    # Leave without the interpreter's finalization: gloo's threads, torn down there, abort the
    # process now and then ("terminate called without an active exception", SIGABRT).
    os._exit(0)


def _run(case, rank, world_size, fault):
    dtype = model.DTYPES[case.dtype]
    X = torch.as_tensor(case.X.T, dtype=dtype)
    Y = torch.as_tensor(case.Y.T, dtype=dtype)
    net = model.build_model(case)
    summed = model.loss_function(case.replace(reduction="sum"))
    params = model.named_parameters(net)
    shapes = {k: np.shape(v) for k, v in case.params.items()}
    batches, first = case.update_batches()
    def mine(idx):  # this rank's rows of the batch `idx`, and the batch's size
        r = np.arange(case.m)[idx] if isinstance(idx, slice) else np.asarray(idx)
        return torch.as_tensor(r[shard(len(r), world_size, rank)]), len(r)

    def part(ids, m_batch, out):  # this rank's part of the batch's loss
        total = summed(out, Y[ids])
        if case.reduction == "sum":
            return total
        return total / max(len(ids), 1) if fault == "shard-mean" else total / m_batch

    with torch.no_grad():
        initial_outputs = model.outputs(case, net, X).T.numpy().copy()
    ids, m0 = mine(first)
    grads = torch.autograd.grad(part(ids, m0, net(X[ids])), list(params.values()))
    grads = [g.contiguous() for g in grads]
    for g in grads:
        dist.all_reduce(g)
    gradients = {k: g.numpy().reshape(shapes[k]).copy() for k, g in zip(params, grads)}
    trainable = {k: p for k, p in params.items() if k in case.trainable_names}
    for k, p in params.items():
        p.requires_grad_(k in trainable)
    ddp = nn.parallel.DistributedDataParallel(net)
    ddp.register_comm_hook(None, _sum_hook)
    optimizer, scheduler, start = model.resumed(case, trainable)
    losses = np.empty(case.updates + 1, dtype=case.dtype)
    for i, idx in enumerate(batches):
        if fault == "die" and rank == 1:
            os._exit(3)
        optimizer.zero_grad()
        ids, m_batch = mine(idx)
        loss = part(ids, m_batch, ddp(X[ids]))
        loss.backward()  # the hook sums the ranks' parts: the batch's gradient
        if case.clip is not None:
            nn.utils.clip_grad_norm_(list(trainable.values()), case.clip["max_norm"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        value = loss.detach().clone()
        dist.all_reduce(value)
        losses[i] = value.item()
    with torch.no_grad():
        final = model.outputs(case, net, X)
        losses[-1] = model.loss_function(case)(net(X), Y).item()
    h = hashlib.sha256()
    for k in sorted(params):
        h.update(params[k].detach().numpy().tobytes())
    digests = [None] * world_size
    dist.all_gather_object(digests, h.hexdigest())
    if len(set(digests)) != 1:
        raise RuntimeError(f"{case.name}: ranks drifted apart: their parameters differ after "
                           "the run")
    state = None
    if case.stateful:  # updates > 0 here: a run without one is model.train's
        state = model.read_state(optimizer, trainable, start + case.updates,
                                 slots_of(case.optimizer), shapes)
    return TrainResult(
        losses=losses, gradients=gradients,
        final_params={k: p.detach().numpy().reshape(shapes[k]).copy() for k, p in params.items()},
        final_outputs=final.T.numpy().copy(), initial_outputs=initial_outputs, final_state=state)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_data_parallel(case, world_size, device="cpu", precision="default", fault=None,
                        timeout=DEFAULT_TIMEOUT):
    """Train `case` on `world_size` ranks spawned here; rank 0's TrainResult. A rank that
    fails fails the run with its error (torch.multiprocessing.spawn ends the others)."""
    if fault not in (None, *FAULTS):
        raise ValueError(f"fault: expected one of {FAULTS}, got {fault!r}")
    if world_size == 1 or not case.updates:
        return model.train(case)
    if device != "cpu":
        raise ValueError(f"device {device!r}: torch-nn data-parallel runs on the CPU here")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "result.pkl")
        try:
            mp.spawn(_rank, args=(world_size, _free_port(), case, out, timeout, fault,
                                  os.getpid()), nprocs=world_size, join=True)
        except mp.ProcessExitedException as e:
            raise RuntimeError(f"data-parallel rank {e.error_index} of {world_size} failed "
                               f"(exit status {e.exit_code})") from None
        except mp.ProcessRaisedException as e:
            last = (str(e).strip().splitlines() or ["?"])[-1]
            raise RuntimeError(f"data-parallel rank {e.error_index} of {world_size} failed: "
                               f"{last}") from None
        with open(out, "rb") as f:
            return pickle.load(f)


def main(argv=None) -> int:
    """One rank under torchrun (or any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR and
    MASTER_PORT): every rank reads the same case file, rank 0 writes the results block (the
    `run --json` format), which `python -m comparisons verify CASE OUT.json` judges:
        torchrun --nnodes 2 --nproc-per-node 2 --rdzv-backend c10d --rdzv-endpoint HOST:PORT \\
            -m torch_nn_impl.data_parallel CASE.json OUT.json"""
    ap = argparse.ArgumentParser(prog="python -m torch_nn_impl.data_parallel",
                                 description="one rank of a torch-nn data-parallel run "
                                             "(DistributedDataParallel), under torchrun")
    ap.add_argument("case", help="a case file (.json/.toml)")
    ap.add_argument("out", help="where rank 0 writes the results block (.json)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="seconds every collective may wait for the other ranks")
    ap.add_argument("--fault", choices=FAULTS, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    case = load_case(a.case)
    _watch_parent(os.getppid())
    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=a.timeout))
    try:
        rank = dist.get_rank()
        result = _run(case, rank, dist.get_world_size(), a.fault)
        if rank == 0:
            tmp = a.out + ".tmp"
            with open(tmp, "w") as f:
                f.write(json.dumps(result.to_dict()) + "\n")
            os.replace(tmp, a.out)
    finally:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # as the spawned ranks leave: past gloo's threads' teardown


__all__ = ["data_parallel_missing", "main", "train_data_parallel"]

if __name__ == "__main__":
    sys.exit(main())
