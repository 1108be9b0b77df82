"""Worker processes (comparisons/execution/workers.py): the judge survives every way an
implementation can misbehave, warm workers are reused only when they are interchangeable, and
what crosses to a worker of another interpreter crosses as exact JSON."""

import dataclasses
import json
import os
import sys
import time

import numpy as np
import pytest

import reference
from comparisons import catalogue, protocol
from comparisons.execution import runner
from comparisons.execution.workers import JSONConnection, decode, encode
from comparisons.judge import ERROR, FAIL, SKIPPED
from helpers import ROOT


def _case(name="gd-minibatch", **changes):
    c = catalogue.get(name)
    return c.replace(**changes) if changes else c



PLUGIN = "plugins.misbehaving"


def _session(monkeypatch, how, case=None, timeout=60.0):
    monkeypatch.setenv("BP_MISBEHAVE", how)
    impls = {"reference": protocol.resolve("reference"), "misbehaving": protocol.resolve(PLUGIN)}
    return runner.run([case or _case("reduction-sum")], impls, timeout=timeout)


@pytest.mark.parametrize("how,status,text", [
    ("raise", ERROR, "RuntimeError: deliberately broken"),
    ("segfault", ERROR, "the worker died while training (signal SIGSEGV)"),
    ("exit", ERROR, "the worker died while training (exit status 3)"),
    ("garbage", ERROR, "train returned dict, which has no 'losses'"),
    ("shape", FAIL, "dW1: shape (5, 1), expected (5, 4)"),
    ("nan", FAIL, "dW1: non-finite element [0, 0]"),
    ("drift", FAIL, "final W1: error/bound"),
])
def test_a_misbehaving_implementation_is_a_verdict_not_a_crash(monkeypatch, how, status, text):
    s = _session(monkeypatch, how)
    (v,) = s.verdicts
    assert v.status == status and text in v.message, v.message
    assert s.exit_code == runner.EXIT_DISAGREE


def test_a_float64_result_for_a_float32_case_fails_on_its_dtype(monkeypatch):
    s = _session(monkeypatch, "dtype", case=_case("reduction-sum", dtype="float32"))
    v = next(v for v in s.verdicts if v.pair[0] == "misbehaving")
    assert v.status == FAIL and "losses: dtype float64, expected float32" in v.message


def test_a_hanging_implementation_times_out(monkeypatch):
    import time
    t = time.perf_counter()
    s = _session(monkeypatch, "hang", timeout=3.0)
    assert time.perf_counter() - t < 30
    assert s.verdicts[0].status == ERROR and "timed out after 3 s" in s.verdicts[0].message


def test_an_unsupported_case_is_skipped_and_listed(monkeypatch):
    impl = dataclasses.replace(protocol.resolve(PLUGIN), dtypes=("float64",))
    monkeypatch.setenv("BP_MISBEHAVE", "")
    s = runner.run([_case("reduction-sum", dtype="float32")],
                   {"reference": protocol.resolve("reference"), "misbehaving": impl})
    v = next(v for v in s.verdicts if v.pair[0] == "misbehaving")
    assert v.status == SKIPPED and v.message == "misbehaving: dtype float32 is not supported"


def test_nothing_compared_is_not_a_pass():
    s = runner.run([_case("reduction-sum")], {"reference": protocol.resolve("reference")})
    assert s.verdicts == [] and s.exit_code == runner.EXIT_INCOMPLETE


@pytest.fixture
def workers(monkeypatch):
    """comparisons.workers with the suite's session block set aside: a test's block is the
    outermost one."""
    from comparisons.execution import workers
    monkeypatch.setattr(workers, "_WARM", None)
    monkeypatch.setenv("BP_MISBEHAVE", "")
    return workers


def test_a_released_worker_serves_the_next_pool_and_the_block_end_stops_it(workers):
    with workers.warm_workers():
        w = workers.acquire(PLUGIN)
        with workers.Pool({"m": w}) as pool:
            pool.submit("m", _case("reduction-sum")).result()
        proc = w.proc
        assert w.alive  # kept, not stopped, by the pool's normal close
        with workers.warm_workers():  # a nested block shares the outer one's workers
            assert workers.acquire(PLUGIN) is w
            with workers.Pool({"m": w}) as pool:  # not started again
                pool.submit("m", _case("reduction-sum")).result()
            assert w.proc is proc
        assert w.alive and workers.acquire(PLUGIN) is w
        workers.release(w)
    assert not w.alive and proc.poll() is not None


def test_a_worker_is_reused_only_with_the_same_environment_and_alive(workers, monkeypatch):
    with workers.warm_workers():
        w = workers.acquire(PLUGIN)
        w.start()
        workers.release(w)
        monkeypatch.setenv("BP_MISBEHAVE", "raise")  # another environment: another worker
        other = workers.acquire(PLUGIN)
        assert other is not w and not other.alive
        monkeypatch.setenv("BP_MISBEHAVE", "")
        w.proc.kill()
        w.proc.wait(5)
        assert workers.acquire(PLUGIN) is not w  # a dead worker is never handed out


def test_outside_a_block_or_after_an_error_workers_are_stopped(workers):
    w = workers.acquire(PLUGIN)
    w.start()
    workers.release(w)
    assert not w.alive
    with workers.warm_workers():
        w = workers.acquire(PLUGIN)
        pool = workers.Pool({"m": w})
        pool.submit("m", _case("reduction-sum")).result()
        pool.close(wait=False)  # an interrupted session keeps nothing
        assert not w.alive and workers.acquire(PLUGIN) is not w


def test_training_runs_wait_for_a_slot_and_their_timeouts_start_with_it(workers, monkeypatch):
    # One slot: the second run starts when the first ends (their ends 2 s apart, where they
    # would be a worker's start apart without the limit), and its 3-s timeout, counted from
    # its slot, is not spent waiting for it.
    monkeypatch.setattr(workers, "training_slots", lambda: 1)
    monkeypatch.setenv("BP_MISBEHAVE", "sleep")
    ends = []
    with workers.Pool({k: workers.acquire(PLUGIN) for k in "ab"}, timeout=3.0) as pool:
        futures = [pool.submit(k, _case("reduction-sum")) for k in "ab"]
        for f in futures:
            f.add_done_callback(lambda _: ends.append(time.monotonic()))
        seconds = [f.result()[1] for f in futures]
    assert max(ends) - min(ends) >= 1.9
    assert all(2.0 <= s < 3.0 for s in seconds)


def test_a_worker_of_another_interpreter_imports_its_own_packages(workers):
    """A worker of an environment of its own gets this checkout on its path, and none of the
    parent's installed packages: MindSpore's worker once ran the main environment's NumPy 2
    instead of its own NumPy 1.x."""
    paths = workers.child_environment(1, foreign=True)["PYTHONPATH"].split(os.pathsep)
    assert str(ROOT) in paths
    prefix = os.path.realpath(sys.prefix) + os.sep
    assert not [p for p in paths if (os.path.realpath(p) + os.sep).startswith(prefix)]
    impl = protocol.resolve("mindspore")
    if impl.missing():
        pytest.skip(f"mindspore: {impl.missing()}")
    w = workers.acquire(environment={}, **impl.worker())
    try:
        w.start()
        assert w.environment["numpy"].startswith("1."), w.environment
        assert len(os.sched_getaffinity(w.proc.pid)) == 1  # WORKER_CPUS = 1: polls otherwise
    finally:
        w.stop()


def test_cases_and_results_cross_as_exact_json():
    """What a worker under another interpreter receives and sends: the case file's JSON and
    the results block, every float exact (subnormals, -0.0), a non-finite one as null."""
    case = catalogue.get("gd-minibatch")
    back = decode(json.loads(json.dumps(encode(("run", [case], {"_local": True})))))
    assert back[0] == "run" and back[2] == {"_local": True}
    got = back[1][0]
    assert got.to_dict() == case.to_dict()
    for k in case.params:
        assert np.array_equal(got.params[k], case.params[k])
    r = reference.train(case)
    r.final_outputs[0, 0], r.losses[-1] = 5e-324, -0.0
    r.losses[0] = np.inf
    msg = json.dumps(encode(("ok", r, 0.5, 1)), allow_nan=False)
    _, block, _, _ = decode(json.loads(msg))
    assert np.isnan(block["losses"][0]) and block["losses"][-1] == 0.0
    assert np.signbit(block["losses"][-1]) and block["final_outputs"][0, 0] == 5e-324
    for k in r.gradients:
        assert np.array_equal(block["gradients"][k], r.gradients[k])
    assert isinstance(JSONConnection, type)
