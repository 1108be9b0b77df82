"""`python -m comparisons bench`: the time of one training update of every implementation,
through the protocol alone (`train(case)`), on the worked example and two MLPs.

Measured so that machine noise hits every implementation alike:
- each implementation runs in a worker process of its own (thread pools of different
  libraries slow each other inside one process: a 2-2-2 step took 4 ms instead of 0.1 ms),
  and while one is measured the others are stopped (SIGSTOP), so that no idle pool spins;
- the measurements are interleaved in rounds: in each round every implementation (and the
  GEMM probe, in the reference's worker) runs once per benchmark, one at a time, the starting
  implementation rotating from round to round; a drift of the machine lands in one round of
  all of them, and ratios are taken within a round, then their median over the rounds;
- one update's time is the difference of two runs of `train` that differ only in the number of
  epochs (full batch: one update per epoch), divided by the difference: what a run costs
  whatever its length (start-up, compilation, the step-0 gradients) cancels. Every
  (benchmark, dtype, epochs) runs once before the rounds, so compilation is never timed.
Figures are medians over the rounds with their spread ((max - min) / median).

The GEMM rate is that of an n x n x n product in NumPy (the reference's BLAS), timed in the
same rounds. FLOPs per update count the matrix products only: forward 2·m·Σ n[l]·n[l-1],
backward 2·m·Σ n[l]·n[l-1] for dW plus 2·m·Σ_{l≥2} n[l]·n[l-1] for dA[l-1].
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from pathlib import Path

import numpy as np

from comparisons import catalogue, protocol
from comparisons.execution.runner import EXIT_OK
from comparisons.execution.workers import Worker
from comparisons.protocol.case import Case, init_params
from comparisons.report.bench import DTYPES, GEMM_N, text_table
from comparisons.report.manifest import manifest
from comparisons.report.output import staged

from . import common

HELP = "per-step timings of the implementations, interleaved"


def add_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="the document as JSON on stdout")
    p.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    p.add_argument("--out", default="parity-report", metavar="DIR",
                   help="where bench.json is saved (default: parity-report/)")
    common.add_impl(p)
    common.add_quiet(p)


def command(args) -> int:
    out = Path(args.out)
    impls, missing = common.select(args.impl)
    with staged(out, common.out_dir(out)) as stage:
        doc = run(impls, quick=args.quick,
                  progress=common.progress(not args.quiet and not args.json))
        doc["missing"] = missing
        (stage / "bench.json").write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc))
    else:
        print(text_table(doc))
        print(f"saved to {out / 'bench.json'}; the main job's report includes it")
    return EXIT_OK

ORACLE = "reference"
# name, layers, activations, loss, m, (epochs of the short run, epochs of the long run). The
# worked example is the catalogue's mazur-sequential (its long run is the published 10,000
# updates); the MLPs are full batch, one update per epoch. The long runs are long enough that
# the updates, not the noise of a run's fixed cost (tracing, start-up), dominate the difference.
WORKED_EXAMPLE = "mazur-sequential"
BENCHMARKS = [
    ("worked-example-2-2-2", [2, 2, 2], ["sigmoid", "sigmoid"], "half_sse", 1, (1, 10_000)),
    ("mlp-784-256-256-10", [784, 256, 256, 10], ["relu", "relu", "softmax"], "cce", 256, (2, 52)),
    ("mlp-784-1024-1024-10", [784, 1024, 1024, 10], ["relu", "relu", "softmax"], "cce", 1024,
     (1, 6)),
]
GEMM_REPEATS = 5  # products per round; their median is the round's
ROUNDS, QUICK_ROUNDS = 5, 2
TARGETS = [  # (benchmark, dtype, measure, comparison, limit): the performance targets (docs/PERFORMANCE.md)
    ("mlp-784-256-256-10", "float32", "reference/torch", "<=", 1.0),
    ("mlp-784-1024-1024-10", "float32", "reference share of GEMM", ">=", 0.70),
]


def bench_case(name: str, dtype: str, epochs: int) -> Case:
    """The benchmark `name` as a case: the worked example's, or full batch (one update per
    epoch), lr 0.01, mean."""
    _, layers, acts, loss, m, _ = next(b for b in BENCHMARKS if b[0] == name)
    if name.startswith("worked-example"):
        return catalogue.get(WORKED_EXAMPLE).replace(epochs=epochs, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(layers[0], m))
    if loss == "cce":
        Y = np.eye(layers[-1])[:, rng.integers(0, layers[-1], m)]
    else:
        Y = rng.uniform(0.01, 0.99, size=(layers[-1], m))
    return Case(name=f"bench-{name}", layers=layers, activations=acts, loss=loss,
                reduction="mean", params=init_params(layers, "he_normal", 0), X=X, Y=Y,
                lr=0.01, epochs=epochs, dtype=dtype)


def step_flops(layers, m) -> float:
    prods = [layers[l] * layers[l - 1] for l in range(1, len(layers))]
    return 2.0 * m * (2 * sum(prods) + sum(prods[1:]))


# ---- in the worker ------------------------------------------------------------------------
_LOADED: dict = {}


def task(impl: str, kind: str, *args) -> float:
    """Seconds of one measurement, in this (worker) process: ("train", benchmark, dtype,
    epochs) times one run of the implementation's `train`; ("gemm", dtype, n), the median of
    GEMM_REPEATS products in NumPy."""
    if kind == "gemm":
        dtype, n = args
        key = ("gemm", dtype, n)
        if key not in _LOADED:
            rng = np.random.default_rng(1)
            _LOADED[key] = tuple(rng.normal(size=(n, n)).astype(dtype) for _ in range(2))
        A, B = _LOADED[key]
        times = []
        for _ in range(GEMM_REPEATS):
            t = time.perf_counter()
            A @ B
            times.append(time.perf_counter() - t)
        return statistics.median(times)
    if impl not in _LOADED:
        _LOADED[impl] = protocol.resolve(impl).load()
    train = _LOADED[impl].train
    key = ("case",) + args
    if key not in _LOADED:
        _LOADED[key] = bench_case(*args)
    case = _LOADED[key]
    t = time.perf_counter()
    train(case)
    return time.perf_counter() - t


# ---- in the parent ------------------------------------------------------------------------
def _spread(xs) -> float:
    med = statistics.median(xs)
    return (max(xs) - min(xs)) / med if med else 0.0


def plan(impls, rounds: int):
    """The measurements, round by round: [(round, impl, kind, args)], each implementation's
    turn rotating; within a turn the short and long runs alternate their order."""
    names = list(impls)
    out = []
    for r in range(rounds):
        turn = names[r % len(names):] + names[:r % len(names)]
        for impl in turn:
            if impl == ORACLE:
                out += [(r, impl, "gemm", (d, GEMM_N)) for d in DTYPES]
            for name, *_, epochs in BENCHMARKS:
                for d in DTYPES:
                    pair = epochs if r % 2 == 0 else epochs[::-1]
                    out += [(r, impl, "train", (name, d, e)) for e in pair]
    return out


def _only(workers: dict, active) -> None:
    """Let only the worker `active` run (None: all): the others are stopped (SIGSTOP), so
    that no idle thread pool of another library (OpenMP, Eigen, TensorFlow) spins on a core
    while one is measured."""
    for name, w in workers.items():
        if w.proc is not None and w.proc.poll() is None:
            try:
                os.kill(w.proc.pid, signal.SIGCONT if active in (None, name) else signal.SIGSTOP)
            except OSError:
                pass


def run(impls: dict, quick: bool = False, progress=None, timeout: float = 600.0) -> dict:
    """Every benchmark of every implementation in `impls` ({name: Implementation}), in
    interleaved rounds; the JSON-ready document described in docs/PERFORMANCE.md."""
    rounds = QUICK_ROUNDS if quick else ROUNDS
    threads = os.cpu_count() or 1
    workers = {n: Worker("comparisons.commands.bench", "task", threads=threads) for n in impls}
    times: dict = {}
    try:
        for i, (n, w) in enumerate(workers.items(), start=1):
            if progress:
                progress(i, len(workers), f"{n}: starting, one untimed run of each benchmark")
            w.start()
            for name, *_, epochs in BENCHMARKS:  # compilation and first-call costs
                for d in DTYPES:
                    for e in epochs:
                        w.run(n, "train", name, d, e, timeout=timeout)
        steps = plan(impls, rounds)
        for r in range(rounds):
            if progress:
                progress(r + 1, rounds, "round of every implementation")
            for _, impl, kind, args in (s for s in steps if s[0] == r):
                _only(workers, impl)
                seconds, _, _ = workers[impl].run(impl, kind, *args, timeout=timeout)
                times[(r, impl, kind) + tuple(args)] = seconds
    finally:
        _only(workers, None)
        for w in workers.values():
            w.stop()
    return summarise(times, list(impls), rounds, quick, manifest())


def summarise(times: dict, impls: list, rounds: int, quick: bool, manifest: dict) -> dict:
    """The document from the raw times {(round, impl, kind, *args): seconds}."""
    doc = {"rounds": rounds, "quick": quick, "gemm_n": GEMM_N, "gemm_gflops": {},
           "results": [], "ratios": [], "trajectory_10000_s": {}, "targets": [],
           "manifest": manifest}
    per_update = {}  # (benchmark, dtype, impl) -> [seconds per update, one per round]
    for name, layers, _, _, m, (e1, e2) in BENCHMARKS:
        for d in DTYPES:
            for impl in impls:
                per_update[(name, d, impl)] = [
                    max(times[(r, impl, "train", name, d, e2)] -
                        times[(r, impl, "train", name, d, e1)], 0.0) / (e2 - e1)
                    for r in range(rounds) if (r, impl, "train", name, d, e2) in times]
    for d in DTYPES:
        gemm = [2.0 * GEMM_N ** 3 / s / 1e9 for (r, i, k, *a), s in times.items()
                if k == "gemm" and a[0] == d]
        doc["gemm_gflops"][d] = statistics.median(gemm) if gemm else None
        doc.setdefault("gemm_spread", {})[d] = _spread(gemm) if gemm else None
    for (name, d, impl), xs in per_update.items():
        if not xs:
            continue
        layers, m = next((b[1], b[4]) for b in BENCHMARKS if b[0] == name)
        med = statistics.median(xs)
        gflops = step_flops(layers, m) / med / 1e9 if med > 0 else None
        gemm = doc["gemm_gflops"][d]
        doc["results"].append({"benchmark": name, "dtype": d, "impl": impl,
                               "update_median_s": med, "spread": _spread(xs),
                               "rounds": len(xs), "gflops": gflops,
                               "fraction_of_gemm": gflops / gemm if gflops and gemm else None})
    for name, *_ in BENCHMARKS:
        for d in DTYPES:
            ref = per_update.get((name, d, ORACLE), [])
            for other in impls:
                xs = [a / b for a, b in zip(ref, per_update.get((name, d, other), []))
                      if other != ORACLE and b > 0]
                if xs:  # paired by round: a drift of the machine divides out
                    doc["ratios"].append({"benchmark": name, "dtype": d,
                                          "ratio": f"{ORACLE}/{other}",
                                          "value": statistics.median(xs), "spread": _spread(xs)})
    name, *_, (_, long_run) = BENCHMARKS[0]  # the worked example's published 10,000 updates
    for impl in impls:
        xs = [s for (r, i, k, *a), s in times.items()
              if (i, k) == (impl, "train") and a == [name, "float64", long_run]]
        if xs:
            doc["trajectory_10000_s"][impl] = statistics.median(xs)
    for name, d, measure, op, limit in TARGETS:
        if measure.startswith(f"{ORACLE}/"):
            hit = [r for r in doc["ratios"] if (r["benchmark"], r["dtype"], r["ratio"]) ==
                   (name, d, measure)]
            value = hit[0]["value"] if hit else None
        else:
            hit = [r for r in doc["results"] if (r["benchmark"], r["dtype"], r["impl"]) ==
                   (name, d, ORACLE)]
            value = hit[0]["fraction_of_gemm"] if hit else None
        holds = None if value is None else (value <= limit if op == "<=" else value >= limit)
        doc["targets"].append({"benchmark": name, "dtype": d, "measure": measure, "op": op,
                               "limit": limit, "value": value, "holds": holds})
    return doc
