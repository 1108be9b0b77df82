"""`python -m comparisons bench`: one training step (forward, backward, update) timed in the
reference, torch (eager) and jax (jit), on the worked example and two MLPs, in one run.

Timings are medians of repeated runs after warm-up; ratios are taken within the run (the
machine is noisy, so compare ratios, not absolute seconds across runs). Each implementation
is measured in its own worker process: NumPy's OpenBLAS, torch's OpenMP and XLA each keep a
thread pool whose spinning threads otherwise slow whichever library is measured next (seen:
a 2-2-2 step at 4 ms instead of 0.1 ms). The GEMM rate is measured in the same run, in the
numpy worker (the reference's BLAS) and in the torch worker, and the machine's rate is the
larger. FLOPs per step count the matrix products only:
forward 2·m·Σ n[l]·n[l-1], backward 2·m·Σ n[l]·n[l-1] for dW plus 2·m·Σ_{l≥2} n[l]·n[l-1]
for dA[l-1] (dA[0] is not needed for training and is not computed by any implementation's step).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from reference.case import Case, init_params

BENCHMARKS = [
    # name, layers, activations, loss, m
    ("worked-example-2-2-2", [2, 2, 2], ["sigmoid", "sigmoid"], "half_sse", 1),
    ("mlp-784-256-256-10", [784, 256, 256, 10], ["relu", "relu", "softmax"], "cce", 256),
    ("mlp-784-1024-1024-10", [784, 1024, 1024, 10], ["relu", "relu", "softmax"], "cce", 1024),
]
DTYPES = ["float32", "float64"]


def _case(layers, acts, loss, m, dtype) -> Case:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(layers[0], m))
    if loss == "cce":
        Y = np.eye(layers[-1])[:, rng.integers(0, layers[-1], m)]
    else:
        Y = rng.uniform(0.01, 0.99, size=(layers[-1], m))
    return Case(name="bench", layers=layers, activations=acts, loss=loss, reduction="mean",
                params=init_params(layers, "he_normal", 0), X=X, Y=Y, lr=0.01, epochs=1,
                dtype=dtype)


def step_flops(layers, m) -> float:
    prods = [layers[l] * layers[l - 1] for l in range(1, len(layers))]
    return 2.0 * m * (2 * sum(prods) + sum(prods[1:]))


def _median_time(fn, sync, target_s, min_reps=5, max_reps=2000) -> tuple[float, int]:
    fn()  # warm-up: first-call costs (allocation, JIT compilation) are not a step's cost
    sync(fn())
    t0 = time.perf_counter()
    sync(fn())
    once = max(time.perf_counter() - t0, 1e-7)
    reps = int(min(max_reps, max(min_reps, target_s / once)))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times), reps


def _steppers(impls, case):
    """{impl: (zero-argument step function, sync)} for one simultaneous training step."""
    out = {}
    net = (case.activations, case.loss, case.reduction)
    trainable = case.trainable_names
    if "reference" in impls:
        mod = impls["reference"]
        X, Y, p = mod.training.cast(case)
        out["reference"] = (lambda: mod.training.simultaneous_step(p, X, Y, *net, case.lr,
                                                                   trainable), lambda r: None)
    if "torch" in impls:
        import torch
        mod = impls["torch"]
        X, Y, p = mod.training.cast(case)

        def torch_step():
            with torch.no_grad():
                return mod.training.simultaneous_step(p, X, Y, *net, case.lr, trainable)
        out["torch"] = (torch_step, lambda r: None)
    if "jax" in impls:
        import functools

        import jax
        mod = impls["jax"]
        X, Y, p = mod.training.cast(case)
        lr = jax.numpy.asarray(case.lr, dtype=X.dtype)
        step = jax.jit(functools.partial(mod.training.simultaneous_step,
                                         activations=tuple(case.activations), loss=case.loss,
                                         reduction=case.reduction, trainable=trainable))
        out["jax"] = (lambda: step(p, X, Y, lr=lr), jax.block_until_ready)
    return out


def gemm_rate(dtype, library, n=1024, target_s=0.5) -> float:
    """GFLOP/s of an n x n x n matrix product with NumPy's BLAS or torch's."""
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(n, n)).astype(dtype), rng.normal(size=(n, n)).astype(dtype)
    if library == "torch":
        import torch
        A, B = torch.from_numpy(A), torch.from_numpy(B)
    return 2.0 * n ** 3 / _median_time(lambda: A @ B, lambda r: None, target_s)[0] / 1e9


def trajectory_time(name, mod, reps=3) -> float:
    """Wall time of the 10,000-update worked-example trajectory (sequential); jax warm
    (compiled by a first call that is not counted)."""
    from . import catalogue
    case = catalogue.get("mazur-sequential")
    if name == "jax":
        mod.train(case)
    return min(_once(lambda: mod.train(case)) for _ in range(reps if name != "torch" else 1))


def _once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def worker(impl: str, quick: bool) -> dict:
    """Every benchmark of one implementation, in this process."""
    from . import protocol
    declared = protocol.resolve(impl)
    why = declared.missing()
    if why:
        return {"impl": impl, "missing": why}
    import importlib
    mod = importlib.import_module(declared.module)
    for sub in ("training",):
        importlib.import_module(f"{declared.module}.{sub}")
    target = 0.2 if quick else 1.0
    out = {"impl": impl, "steps": [], "gemm": {}}
    for dtype in DTYPES:
        if impl in ("reference", "torch"):
            out["gemm"][dtype] = gemm_rate(dtype, impl, target_s=target / 2)
        for name, layers, acts, loss, m in BENCHMARKS:
            fn, sync = _steppers({impl: mod}, _case(layers, acts, loss, m, dtype))[impl]
            med, reps = _median_time(fn, sync, target)
            out["steps"].append({"benchmark": name, "dtype": dtype, "step_median_s": med,
                                 "repeats": reps})
    out["trajectory_s"] = trajectory_time(impl, mod, reps=1 if quick else 3)
    return out


def run(impls: dict, quick: bool = False, progress=None) -> dict:
    """Every benchmark, one worker process per implementation; the JSON-ready document
    described in the README."""
    import json
    import subprocess
    import sys

    from .manifest import manifest
    workers = {}
    for i, impl in enumerate(impls, start=1):
        if progress:
            progress(i, len(impls), f"{impl}: {len(BENCHMARKS) * len(DTYPES)} benchmarks")
        cmd = [sys.executable, "-m", "comparisons.bench", impl] + (["--quick"] if quick else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"bench worker {impl} failed: {proc.stderr.strip()[-500:]}")
        workers[impl] = json.loads(proc.stdout)
    doc = {"gemm_gflops": {}, "gemm_gflops_by_library": {}, "results": [], "ratios": [],
           "trajectory_10000_s": {}, "quick": quick, "manifest": manifest()}
    for dtype in DTYPES:
        rates = {impl: w["gemm"][dtype] for impl, w in workers.items() if dtype in w.get("gemm", {})}
        doc["gemm_gflops_by_library"][dtype] = rates
        doc["gemm_gflops"][dtype] = max(rates.values()) if rates else None
    medians = {}
    for impl, w in workers.items():
        doc["trajectory_10000_s"][impl] = w["trajectory_s"]
        for r in w["steps"]:
            layers = next(b[1] for b in BENCHMARKS if b[0] == r["benchmark"])
            m = next(b[4] for b in BENCHMARKS if b[0] == r["benchmark"])
            gflops = step_flops(layers, m) / r["step_median_s"] / 1e9
            gemm = doc["gemm_gflops"][r["dtype"]]
            doc["results"].append(dict(r, impl=impl, gflops=gflops,
                                       fraction_of_gemm=gflops / gemm if gemm else None))
            medians[(r["benchmark"], r["dtype"], impl)] = r["step_median_s"]
    for dtype in DTYPES:
        for name, *_ in BENCHMARKS:
            for other in ("torch", "jax"):
                a, b = medians.get((name, dtype, "reference")), medians.get((name, dtype, other))
                if a and b:
                    doc["ratios"].append({"benchmark": name, "dtype": dtype,
                                          "ratio": f"reference/{other}", "value": a / b})
    return doc


def text_table(doc) -> str:
    lines = [f"GEMM (1024^3): float32 {doc['gemm_gflops']['float32']:.1f} GFLOP/s, "
             f"float64 {doc['gemm_gflops']['float64']:.1f} GFLOP/s (best of NumPy and torch)",
             f"{'benchmark':<22} {'dtype':<8} {'impl':<6} {'step median':>12} "
             f"{'GFLOP/s':>8} {'of GEMM':>8}"]
    for r in doc["results"]:
        lines.append(f"{r['benchmark']:<22} {r['dtype']:<8} {r['impl']:<6} "
                     f"{_t(r['step_median_s']):>12} {r['gflops']:>8.2f} "
                     f"{100 * r['fraction_of_gemm']:>7.1f}%")
    lines.append("ratios (reference time / framework time; <= 1 means the reference is faster):")
    for r in doc["ratios"]:
        lines.append(f"  {r['benchmark']:<22} {r['dtype']:<8} {r['ratio']:<12} {r['value']:.2f}")
    lines.append("10,000-update worked example (sequential), wall time: "
                 + ", ".join(f"{k} {_t(v)}" for k, v in doc["trajectory_10000_s"].items()))
    return "\n".join(lines)


def markdown_table(doc) -> str:
    md = [f"GEMM rate measured in the same run: float32 {doc['gemm_gflops']['float32']:.1f} "
          f"GFLOP/s, float64 {doc['gemm_gflops']['float64']:.1f} GFLOP/s.", "",
          "| benchmark | dtype | impl | step median | GFLOP/s | of GEMM |",
          "|---|---|---|---|---|---|"]
    for r in doc["results"]:
        md.append(f"| {r['benchmark']} | {r['dtype']} | {r['impl']} | {_t(r['step_median_s'])} "
                  f"| {r['gflops']:.2f} | {100 * r['fraction_of_gemm']:.1f}% |")
    md += ["", "| benchmark | dtype | ratio | value |", "|---|---|---|---|"]
    md += [f"| {r['benchmark']} | {r['dtype']} | {r['ratio']} | {r['value']:.2f} |"
           for r in doc["ratios"]]
    md += ["", "10,000-update worked example (sequential), wall time: "
           + ", ".join(f"{k} {_t(v)}" for k, v in doc["trajectory_10000_s"].items()) + "."]
    return "\n".join(md)


def _t(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s"


if __name__ == "__main__":  # a worker: python -m comparisons.bench IMPL [--quick]
    import json
    import sys
    print(json.dumps(worker(sys.argv[1], "--quick" in sys.argv[2:])))
