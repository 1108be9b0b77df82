"""The benchmark's bookkeeping (FLOP counts, the JSON document); the timings themselves are
reported by `python -m comparisons bench`, never asserted."""

import json
import subprocess

from comparisons import bench


def test_step_flops_counts_forward_dw_and_inner_da():
    # forward 2m sum(n_l n_l-1), dW the same, dA[l-1] for l >= 2 only
    prods = [784 * 256, 256 * 256, 256 * 10]
    assert bench.step_flops([784, 256, 256, 10], 256) == 2 * 256 * (2 * sum(prods) + sum(prods[1:]))


def test_bench_json_document(monkeypatch):
    small = [b for b in bench.BENCHMARKS if b[0] == "worked-example-2-2-2"]
    monkeypatch.setattr(bench, "BENCHMARKS", small)
    monkeypatch.setattr(bench, "gemm_rate", lambda dtype, lib, target_s: 100.0)
    monkeypatch.setattr(bench, "trajectory_time", lambda name, mod, reps: 0.5)

    real_run = subprocess.run

    def fake_worker_process(cmd, **kw):  # bench workers run in-process, with the patches
        if cmd[1:3] != ["-m", "comparisons.bench"]:
            return real_run(cmd, **kw)
        out = json.dumps(bench.worker(cmd[3], quick=True))
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr(subprocess, "run", fake_worker_process)
    from comparisons.runner import select
    impls, _ = select(["jax"])
    doc = bench.run(impls, quick=True)
    assert doc["gemm_gflops"] == {"float32": 100.0, "float64": 100.0}
    keys = {(r["benchmark"], r["dtype"], r["impl"]) for r in doc["results"]}
    assert keys == {("worked-example-2-2-2", d, i) for d in ("float32", "float64")
                    for i in ("reference", "jax")}
    assert all(r["step_median_s"] > 0 and r["repeats"] >= 5 for r in doc["results"])
    assert {r["ratio"] for r in doc["ratios"]} == {"reference/jax"}
    assert doc["trajectory_10000_s"] == {"reference": 0.5, "jax": 0.5}
    assert "GEMM" in bench.text_table(doc) and "| benchmark |" in bench.markdown_table(doc)
    json.dumps(doc)
