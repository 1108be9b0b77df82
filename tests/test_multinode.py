"""Across machines, on one (docs/DATA-PARALLEL.md, "Across machines"): two torchrun agents of
2 ranks each and two jax processes of 2 devices each, on localhost with ports chosen free, on
cases with uneven and empty shards and both schedules; every run judged by `verify` against
the reference; a node that dies fails the run with its cause, within the timeout, and leaves
no process behind."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from comparisons import catalogue
from comparisons.cli import main
from helpers import ROOT

# deep-relu-sequential in batches of 3 over 4 ranks: shards of 1, 1, 1, 0 (and a last batch
# of 2: two empty shards); gd-sgd, one sample an update: three empty shards of four
CASES = {"sequential-uneven": ("deep-relu-sequential", {"batch_size": 3, "epochs": 1}),
         "simultaneous-empty-shards": ("gd-sgd", {"epochs": 1})}
TIMEOUT = 120


# Each launch starts two framework processes (8-18 s on 2 cores): CI launches each framework's
# runs on one case and a dying node of one framework; the nightly profile all of them.
def _one_in_ci(names, in_ci, why):
    return [pytest.param(n, marks=() if n == in_ci else pytest.mark.nightly(why)) for n in names]


ANOTHER_CASE = "a second case of a multi-node launch, 8-18 s; CI launches simultaneous-empty-shards"


def _case_file(tmp_path, name) -> str:
    base, train = CASES[name]
    d = catalogue.get(base).to_dict()
    d["name"] = name
    d["train"].update(train)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(d))
    return str(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path, commands) -> list[tuple[int, str]]:
    """Start every command (one per node) at once, each in a session of its own with its
    output in a file; wait for all within TIMEOUT; end whatever is left. [(status, output)]."""
    procs, logs = [], []
    try:
        for i, cmd in enumerate(commands):
            logs.append(tmp_path / f"node{i}.log")
            with open(logs[-1], "w") as log:
                procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        deadline = time.monotonic() + TIMEOUT
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
    return [(p.returncode, log.read_text()) for p, log in zip(procs, logs)]


def assert_nothing_left(marker: str):
    time.sleep(0.5)
    left = [p.pid for p in psutil.process_iter(["cmdline"])
            if any(marker in a for a in (p.info["cmdline"] or []))]
    assert not left, f"processes left behind: {left}"


def torchrun(case, out, port, *extra):
    return [[sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node",
             "2", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id",
             "test", "--max-restarts", "0", "-m", "torch_impl.data_parallel", case, out,
             "--timeout", "60", *extra]] * 2


def jax_processes(case, out, port, devices=2, *extra):
    return [[sys.executable, "-m", "jax_impl.data_parallel", case, out, "--coordinator",
             f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i),
             "--local-devices", str(devices), "--timeout", "60", *extra] for i in range(2)]


def _verify(case, result, name, capsys) -> str:
    code = main(["verify", case, result, "--name", name])
    out = capsys.readouterr().out
    assert code == 0, out
    return out.strip().splitlines()[-1]


@pytest.mark.parametrize("name", _one_in_ci(CASES, "simultaneous-empty-shards", ANOTHER_CASE))
def test_two_torchrun_agents_are_judged_like_any_run(tmp_path, name, capsys):
    case, out = _case_file(tmp_path, name), str(tmp_path / "result.json")
    ran = launch(tmp_path, torchrun(case, out, _free_port()))
    assert [rc for rc, _ in ran] == [0, 0], ran[0][1][-3000:] + ran[1][1][-3000:]
    assert _verify(case, out, "torch-2x2", capsys).startswith("PASS: ")
    assert_nothing_left(case)


def test_ddp_with_adam_across_two_torchrun_agents_is_judged_with_its_state(tmp_path, capsys):
    """torch-nn's DistributedDataParallel with torch.optim.Adam on two agents of 2 ranks
    (batches of 6 and a last of 2 over 4 ranks: uneven and empty shards): `verify` judges the
    moments with the rest."""
    path = tmp_path / "adam.json"
    path.write_text(json.dumps(catalogue.get("optim-adam").to_dict()))
    case, out = str(path), str(tmp_path / "result.json")
    ran = launch(tmp_path, [[sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
                             "--nproc-per-node", "2", "--rdzv-backend", "c10d",
                             "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--rdzv-id", "test",
                             "--max-restarts", "0", "-m", "torch_nn_impl.data_parallel", case, out,
                             "--timeout", "60"]] * 2)
    assert [rc for rc, _ in ran] == [0, 0], ran[0][1][-3000:] + ran[1][1][-3000:]
    steps = json.loads(open(out).read())["final_state"]["step"]
    assert steps == catalogue.get("optim-adam").updates
    assert main(["verify", case, out, "--name", "torch-nn-2x2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (verdict,) = doc["parity"]
    judged = {t["name"] for t in verdict["tensors"] if not t.get("skipped")}
    assert verdict["status"] == "pass" and {"final M[W1]", "final V[b2]"} <= judged, verdict
    assert_nothing_left(case)


@pytest.mark.parametrize("name", _one_in_ci(CASES, "simultaneous-empty-shards", ANOTHER_CASE))
def test_two_jax_processes_are_judged_like_any_run(tmp_path, name, capsys):
    case, out = _case_file(tmp_path, name), str(tmp_path / "result.json")
    ran = launch(tmp_path, jax_processes(case, out, _free_port()))
    assert [rc for rc, _ in ran] == [0, 0], ran[0][1][-3000:] + ran[1][1][-3000:]
    assert "4 devices" in ran[0][1]
    assert _verify(case, out, "jax-2x2", capsys).startswith("PASS: ")
    assert_nothing_left(case)


def test_jax_across_processes_is_bitwise_one_process_where_the_sum_has_one_order(tmp_path):
    """Two processes of one device each against one process of two devices: a sum of two
    shards has one order, so the results are equal bit for bit. (With four devices gloo sums
    (d0 + d1) + (d2 + d3) across processes where one process sums in device order, and the
    results differ in the last bits, within the bounds that `verify` applies above.)"""
    case = _case_file(tmp_path, "sequential-uneven")
    across, alone = str(tmp_path / "across.json"), str(tmp_path / "alone.json")
    ran = launch(tmp_path, jax_processes(case, across, _free_port(), 1))
    assert [rc for rc, _ in ran] == [0, 0], ran[0][1][-3000:]
    one = subprocess.run([sys.executable, "-m", "jax_impl.data_parallel", case, alone,
                          "--local-devices", "2"], cwd=ROOT, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert one.returncode == 0, one.stderr[-3000:]
    with open(across) as a, open(alone) as b:
        assert json.load(a) == json.load(b)


@pytest.mark.parametrize("framework", _one_in_ci(["torch", "jax"], "torch", (
    "jax's dying node, 13 s; CI kills one of torchrun's")))
def test_a_node_that_dies_fails_the_run_with_its_cause(tmp_path, framework):
    case, out = _case_file(tmp_path, "sequential-uneven"), str(tmp_path / "result.json")
    port = _free_port()
    commands = (torchrun(case, out, port, "--fault", "die") if framework == "torch"
                else jax_processes(case, out, port, 2, "--fault", "die"))
    t = time.monotonic()
    ran = launch(tmp_path, commands)
    assert time.monotonic() - t < TIMEOUT
    assert all(rc != 0 for rc, _ in ran), [rc for rc, _ in ran]
    text = ran[0][1] + ran[1][1]
    if framework == "torch":  # the agent of the lost rank names it and its exit status
        assert "rank      : 1 (local_rank: 1)" in text and "exitcode  : 3" in text, text[-3000:]
    else:  # the survivor names the lost process
        assert re.search(r"stopped sending heartbeats\):\s*\n\S*?(task:)?1\b", text), text[-3000:]
    assert not os.path.exists(out)
    assert_nothing_left(case)
