"""Local judging (comparisons/judge/local.py): every update of an implementation's own trajectory,
one step at a time, at both levels (or at the probabilistic level on a sample a user asks
for)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import reference
from comparisons.execution.workers import trajectory as trajectory_of
from comparisons.judge import local
from comparisons.protocol import cost
from comparisons.protocol.parts import chunk_updates
from comparisons.judge.parity import TRAJECTORY
from comparisons.protocol.case import case_from_dict
from helpers import diverging


def small(updates: int, dtype: str = "float64", **train):
    return case_from_dict({
        "name": f"local-{updates}", "dtype": dtype, "layers": [3, 5, 2],
        "activations": ["tanh", "softmax"], "loss": "cce", "reduction": "mean",
        "init": {"scheme": "glorot_uniform", "seed": 4},
        "data": {"generator": "blobs", "m": 8, "seed": 5},
        "train": {"lr": 0.3, "epochs": updates, "schedule": "simultaneous"} | train})


def wide(width: int, updates: int):
    """[784, width, width, 10], m = width (comparisons/commands/scale.py's grid)."""
    from comparisons.commands.scale import grid_case
    return grid_case(width, "tanh", "float32", "simultaneous", updates, 1 << 40)


@pytest.mark.parametrize("width, updates", [(256, 5), (256, 100), (1024, 100), (1024, 1000)],
                         ids=lambda x: str(x))
def test_by_default_the_probabilistic_level_judges_every_update_whatever_the_size(width, updates):
    assert local.level2_updates(wide(width, updates)) == list(range(updates))


@pytest.mark.parametrize("updates, sample", [(5, 2), (100, 30), (100, 99), (1000, 7), (5, 9)],
                         ids=lambda x: str(x))
def test_a_sample_asked_for_judges_first_last_and_evenly_between(updates, sample):
    ts = local.level2_updates(wide(256, updates), sample)
    assert ts[0] == 0 and ts[-1] == updates - 1
    assert len(ts) == min(updates, sample)
    gaps = np.diff(ts)
    assert gaps.max() - gaps.min() <= 1  # evenly spread


def trajectory(case, plant=None):
    """The reference's own run of `case` one update at a time, with `plant(t, result)` applied
    to the result of update t."""
    out = trajectory_of(reference.train, case)
    return [plant(t, r) if plant else r for t, r in enumerate(out)]


def test_an_error_of_one_update_fails_at_that_update_where_the_probabilistic_level_is_not_run():
    case = small(12)
    assert local.level2_updates(case, 2) == [0, 11]  # two updates at the probabilistic level

    def plant(t, r):
        if t != 5:
            return r
        W = dict(r.final_params, W1=np.asarray(r.final_params["W1"]) * (1 + 1e-9))
        return dataclasses.replace(r, final_params=W)
    rows = {r.name: r for r in local.judge(case, trajectory(case, plant), "float64", sample=2)}
    bad = rows["final W1" + local.SUFFIX]
    assert not bad.ok and bad.certain and local.update_of(bad) == 5, bad.line()
    listed = rows["probabilistic level" + local.SUFFIX]
    assert listed.skipped and listed.kind == local.LEVEL2 and listed.kind != TRAJECTORY
    assert "10 of 12 updates judged at the worst-case level only" in listed.skipped
    assert "updates 0, 11 " in listed.skipped


def test_a_correct_trajectory_passes_with_the_unsampled_updates_listed():
    case = small(12)
    rows = local.judge(case, trajectory(case), "float64", sample=2)
    judged = [r for r in rows if not r.skipped]
    assert judged and all(r.ok for r in judged), [r.line() for r in rows if not r.ok]
    assert all(r.kind == TRAJECTORY for r in judged)
    assert [r.kind for r in rows if r.skipped] == [local.LEVEL2]
    # level 2 ran at updates 0 and 11 only, and it ran there
    assert any(r.p_ratio == r.p_ratio for r in judged)


def test_where_every_update_is_judged_nothing_is_listed():
    case = small(6)
    rows = local.judge(case, trajectory(case), "float64")
    assert not [r for r in rows if r.skipped]


def test_judging_in_chunks_is_judging_at_once():
    case = small(12)
    results = trajectory(case)
    whole = local.judge(case, results, "float64")
    state = local.Judging(case, "float64")
    for a, b in ((0, 5), (5, 6), (6, 12)):
        state = local.judge_chunk(state, case.params if a == 0 else results[a - 1].final_params,
                                  results[a:b])
    assert [r.line() for r in state.rows()] == [r.line() for r in whole]


def signature(session):
    return sorted((v.pair, r.name, r.worst_ratio, r.p_ratio == r.p_ratio and r.p_ratio,
                   r.worst_index) for v in session.verdicts for r in v.rows)


def test_a_trajectory_streamed_one_update_at_a_time_is_judged_as_in_one_piece(monkeypatch):
    """Through the main job's workers (implementation, local judges): a chunk of one update
    (each implementation's worker and the float32 reference here run part after part) gives
    the verdict of one chunk holding the whole run."""
    from comparisons.execution import runner
    case = small(6, dtype="float32", batch_size=4, shuffle_seed=1)  # 2 batches an epoch
    impls, _ = runner.select(["torch"])
    assert chunk_updates(case) == case.updates
    one_piece = runner.run([case], impls)
    monkeypatch.setattr(cost, "TRAJECTORY_CHUNK_BYTES", 1)
    assert chunk_updates(case) == 1
    streamed = runner.run([case], impls)
    assert [v.status for v in streamed.verdicts] == [v.status for v in one_piece.verdicts]
    assert signature(streamed) == signature(one_piece)
    rows = [r for v in streamed.verdicts for r in v.rows if r.name.endswith(local.SUFFIX)]
    assert rows and all(r.shape[0] == case.updates for r in rows)


def test_a_diverging_run_is_judged_one_step_at_a_time_up_to_its_edge():
    """Updates before the edge of the float range are judged one at a time; what lies past it
    is listed, with why, never counted as judged (issue #34)."""
    from comparisons import judge
    from comparisons.execution import runner
    case = diverging()
    with np.errstate(all="ignore"):
        oracle = judge.make_oracle(case)
    stop = local.judged_updates(oracle)
    assert 0 < stop < case.updates and local.needed(oracle).startswith("a diverging run")
    impls, _ = runner.select(["torch"])
    session = runner.run([case], impls)
    (v,) = [v for v in session.verdicts if v.pair[0] == "torch"]
    assert v.status == "pass", v.message
    local_rows = [r for r in v.rows if r.name.endswith(local.SUFFIX) and not r.skipped]
    assert local_rows and all(r.shape[0] == stop for r in local_rows)
    (past,) = [r for r in v.not_judged if r.name == "updates past the edge" + local.SUFFIX]
    assert past.shape == (case.updates - stop,)
    assert f"updates {stop} to {case.updates - 1} are not judged" in past.skipped
    assert "edge of the float range" in past.skipped


def test_an_error_before_the_edge_fails_at_its_update():
    case = diverging()
    from comparisons import judge
    with np.errstate(all="ignore"):
        oracle = judge.make_oracle(case)
        stop = local.judged_updates(oracle)
        runs = trajectory(case.replace(epochs=stop))

    def plant(t, r):
        if t != stop - 2:
            return r
        return dataclasses.replace(r, gradients=dict(
            r.gradients, W2=np.asarray(r.gradients["W2"]) * (1 + 1e-9)))
    with np.errstate(all="ignore"):
        rows = local.Judging(case, "float64").add(case.params,
                                                  [plant(t, r) for t, r in enumerate(runs)]).rows()
    bad = {r.name: r for r in rows}["dW2" + local.SUFFIX]
    assert not bad.ok and local.update_of(bad) == stop - 2, bad.line()


@pytest.mark.parametrize("value", ["1", "0", "two"])
def test_a_sample_of_fewer_than_two_updates_is_one_line_and_exit_2(capsys, value):
    from comparisons.cli import main
    assert main(["run", "reduction-mean-float32", "--probabilistic-updates", value]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert "--probabilistic-updates: expected a whole number of updates >= 2" in err


def test_run_with_a_sample_lists_the_updates_it_leaves_out(capsys):
    from comparisons.cli import main
    assert main(["run", "reduction-mean-float32", "--impl", "reference",
                 "--probabilistic-updates", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert ("probabilistic level @ each update not judged: 38 of 40 updates judged at the "
            "worst-case level only; the probabilistic level judges updates 0, 39") in out
    assert "pass (1 not judged)" in out


@pytest.fixture(scope="module")
def wide_run():
    """[784, 256, 256, 10], m = 256, float32, 100 updates: the float32 reference's own first
    38 updates, one at a time (an implementation's trajectory)."""
    case = wide(256, 100)
    with np.errstate(all="ignore"):
        return case, trajectory_of(reference.train, case.replace(epochs=38))


@pytest.mark.parametrize("t, kind, error", [(0, "dW", 1e-4), (0, "loss", 1e-4),
                                            (37, "dW", 1e-3), (37, "loss", 5e-4)],
                         ids=lambda x: str(x))
def test_an_error_at_one_update_of_a_realistic_run_fails_at_that_update(wide_run, t, kind,
                                                                         error):
    """Issue #34: an error planted at update t only (comparisons/catalogue/mutants.py,
    ONE_UPDATE) fails there at the probabilistic level, and the same update unplanted
    passes. 1e-4 fails at update 0; at update 37 the gradients and the loss are judged at
    that level too, and detect from about 5e-4 and 1.5e-4 (tools/intermittent.py,
    TOLERANCES.md "Every update, one step"): the errors here are twice that."""
    from comparisons.catalogue import mutants
    from reference import network
    case, runs = wide_run
    before = case.params if t == 0 else runs[t - 1].final_params
    clean = local.Judging(case, "float32", t=t).add(before, [runs[t]]).rows()
    assert all(r.ok or r.skipped for r in clean), [r.line() for r in clean if not r.ok]
    bad = mutants.planted_update(case, before, runs[t], kind, error, network.forward_propagation)
    rows = local.Judging(case, "float32", t=t).add(before, [bad]).rows()
    failing = [r for r in rows if not r.ok and not r.skipped]
    assert failing and all(local.update_of(r) == t for r in failing), [r.line() for r in rows]
    assert not any(r.certain for r in failing)  # the probabilistic level's find


def test_a_float32_run_diverges_where_its_loss_passes_float32s_range():
    """The float64 oracle of a float32 case diverges, for that comparison, where its loss
    passes float32's largest number (parity.amplification: first_nonfinite in the dtype
    compared), not where float64's would: tests/cases/diverging-hidden-overflow.json's oracle
    loss is 4.6e41 at update 8, finite in float64."""
    from comparisons.judge.oracle import make_oracle
    from helpers import ROOT
    from reference import load_case
    case = load_case(ROOT / "tests" / "cases" / "diverging-hidden-overflow.json")
    assert make_oracle(case).amp.diverged_at == 8


def test_a_hidden_layer_that_overflows_before_the_loss_is_not_a_false_alarm():
    """The drawn-optimizer campaign's draw (2026-12-03): at update 7 A[L] on all of X passes
    float32's range (Z[L] 4e41 in float64) while the batch's loss unit is 5e29. The edge is read
    from every sum's reach, not the loss's alone: updates 0-6 are judged one step at a time,
    7 on are listed as past the edge, and nothing fails."""
    from comparisons import protocol
    from comparisons.execution import runner
    from helpers import ROOT
    from reference import load_case
    case = load_case(ROOT / "tests" / "cases" / "diverging-hidden-overflow.json")
    session = runner.run([case], {"reference": protocol.resolve("reference")})
    (v,) = session.verdicts
    assert v.status == "pass", v.message
    past = [r for r in v.rows if r.name == "updates past the edge @ each update"]
    assert len(past) == 1 and past[0].skipped.startswith("updates 7 to 10 are not judged"), past
    judged = [r for r in v.rows if r.name.endswith(" @ each update") and not r.skipped]
    assert judged and all(r.shape[0] == 7 for r in judged), [(r.name, r.shape) for r in judged]
