"""The benchmark's bookkeeping (FLOP counts, the interleaving, per-update times from paired
runs, ratios within rounds, the targets); the timings themselves are reported by
`python -m comparisons bench`, never asserted."""

import json
import statistics

import pytest

from comparisons.commands import bench
from comparisons.report import bench as report_bench


def test_step_flops_counts_forward_dw_and_inner_da():
    # forward 2m sum(n_l n_l-1), dW the same, dA[l-1] for l >= 2 only
    prods = [784 * 256, 256 * 256, 256 * 10]
    assert bench.step_flops([784, 256, 256, 10], 256) == 2 * 256 * (2 * sum(prods) + sum(prods[1:]))


def test_rounds_interleave_every_implementation_with_a_rotating_start():
    steps = bench.plan(["reference", "torch", "jax"], rounds=3)
    for r in range(3):
        turn = [impl for rr, impl, *_ in steps if rr == r]
        firsts = list(dict.fromkeys(turn))  # each implementation's turn is contiguous
        assert firsts == (["reference", "torch", "jax"] * 2)[r:r + 3]
        assert sum(1 for rr, i, k, a in steps if rr == r and k == "gemm") == len(bench.DTYPES)
        for name, *_, epochs in bench.BENCHMARKS:  # the short and the long run, every round
            for i in firsts:
                runs = [a[2] for rr, ii, k, a in steps
                        if (rr, ii, k) == (r, i, "train") and a[:2] == (name, "float32")]
                assert sorted(runs) == sorted(epochs)


def _times(impls, rounds, per_update, fixed=0.5, drift=lambda r: 1.0):
    """Synthetic raw times: t(epochs) = drift(round) * (fixed + epochs * per_update[impl])."""
    times = {}
    for r in range(rounds):
        for d in bench.DTYPES:
            times[(r, "reference", "gemm", d, bench.GEMM_N)] = drift(r) * 0.02
        for impl in impls:
            for name, *_, epochs in bench.BENCHMARKS:
                for d in bench.DTYPES:
                    for e in epochs:
                        times[(r, impl, "train", name, d, e)] = drift(r) * (
                            fixed + e * per_update[impl])
    return times


def test_per_update_times_cancel_the_fixed_cost_and_ratios_pair_rounds():
    per_update = {"reference": 1e-3, "torch": 2e-3}
    drift = [1.0, 1.5, 0.8, 1.2, 1.0]  # the machine slows down and speeds up between rounds
    doc = bench.summarise(_times(list(per_update), 5, per_update, drift=lambda r: drift[r]),
                          list(per_update), 5, False, {})
    for r in doc["results"]:  # the median over rounds of the drifting per-update time
        assert r["update_median_s"] == pytest.approx(per_update[r["impl"]] * statistics.median(drift))
        assert r["spread"] == pytest.approx((1.5 - 0.8) / 1.0)
    for r in doc["ratios"]:  # paired within each round: the drift divides out exactly
        assert r["ratio"] == "reference/torch"
        assert r["value"] == pytest.approx(0.5) and r["spread"] == pytest.approx(0, abs=1e-9)
    gemm = 2 * bench.GEMM_N ** 3 / 0.02 / 1e9
    assert doc["gemm_gflops"]["float32"] == pytest.approx(gemm)  # median drift is 1.0
    assert {t["measure"] for t in doc["targets"]} == {"reference/torch", "reference share of GEMM"}
    ratio_target = next(t for t in doc["targets"] if t["measure"] == "reference/torch")
    assert ratio_target["value"] == pytest.approx(0.5) and ratio_target["holds"] is True
    # the worked example's long run is the published 10,000-update trajectory, timed whole
    assert doc["trajectory_10000_s"]["torch"] == pytest.approx((0.5 + 10_000 * 2e-3) * 1.0)
    json.dumps(doc)
    assert "interleaved rounds" in bench.text_table(doc) and "| benchmark |" in report_bench.markdown_table(doc)


def test_a_target_without_its_implementation_is_not_measured_not_held():
    per_update = {"reference": 1e-3}
    doc = bench.summarise(_times(["reference"], 3, per_update), ["reference"], 3, True, {})
    ratio_target = next(t for t in doc["targets"] if t["measure"] == "reference/torch")
    assert ratio_target["value"] is None and ratio_target["holds"] is None
    assert "not measured" in bench.text_table(doc)


def test_a_task_times_one_run_of_train_in_the_worker():
    assert bench.task("reference", "train", "worked-example-2-2-2", "float64", 3) > 0
    assert bench.task("reference", "gemm", "float32", 64) > 0
    worked = bench.bench_case("worked-example-2-2-2", "float64", 10_000)
    assert worked.schedule == "sequential" and len(worked.batch_order()) == 10_000
    case = bench.bench_case("mlp-784-256-256-10", "float32", 2)
    assert case.batch_size is None and case.epochs == 2 and case.dtype == "float32"
    assert len(case.batch_order()) == 2  # full batch: one update per epoch
