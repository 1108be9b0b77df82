"""The judge is sharp: plausible bugs planted in a copy of the reference make the main job
fail, each one; rewrites with other rounding but the same mathematics pass; and the
unmutated copy passes the whole catalogue (TOLERANCES.md, "How sharp")."""

import importlib

import numpy as np
import pytest

from comparisons.catalogue import mutants
from comparisons import catalogue, protocol
from comparisons.execution import runner
from comparisons.protocol.cost import case_cost
from helpers import CLEAN_COPY, assert_same_result, cli, main_job

# The catalogue by cost, so that a mutant's first failing case comes early.
CASES = sorted((catalogue.get(n) for n in catalogue.names()),
               key=lambda c: case_cost(c).updates * sum(c.layers))
ORACLES = {}  # shared by every mutant: the oracle of a case does not depend on the mutant


@pytest.fixture
def planted(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers inherit the parent's path

    def plant(mutant, package):
        module = mutants.plant(tmp_path, package, mutant)
        return {"reference": protocol.resolve("reference"), package: protocol.resolve(module)}
    return plant


# A bug in reference/optimizers.py reaches no plain case (plain SGD at a constant rate only
# asks it for lr): its main job runs the cases with an optimizer, a schedule, decay or clipping.
BEYOND_SGD = [c for c in CASES if not c.plain]


# The cases with a reduced-precision policy: a bug in where a policy rounds reaches no other.
POLICY = [c for c in CASES if c.precision is not None]
POLICY_BUGS = {"output-in-the-compute-dtype", "update-on-low-master-weights",
               "products-summed-in-the-compute-dtype"}


# CI plants three of the nine optimizer bugs, one per kind (a step count, a moment's formula,
# a schedule); the nightly profile all nine (each 1-4 s; tools/catalogue-mutants.py gives
# their figures).
OPTIMIZERS_IN_CI = {"adam-bias-correction-of-t-minus-1", "adam-epsilon-inside-the-root",
                    "schedule-one-update-late"}
OPTIMIZER_AT_NIGHT = pytest.mark.nightly("one of the nine optimizer bugs, 1-4 s each; CI plants "
                                         + ", ".join(sorted(OPTIMIZERS_IN_CI)))


@pytest.mark.parametrize("mutant", [
    pytest.param(m, id=m[0], marks=OPTIMIZER_AT_NIGHT if m[1] == "optimizers.py"
                 and m[0] not in OPTIMIZERS_IN_CI else ()) for m in mutants.BUGS])
def test_the_main_job_fails_on_a_planted_bug(planted, mutant):
    impls = planted(mutant, "mutant")
    cases = (BEYOND_SGD if mutant[1] == "optimizers.py" else POLICY if mutant[0] in POLICY_BUGS
             else CASES)
    session = runner.run(cases, impls, exitfirst=True, oracles=ORACLES)
    assert session.exit_code == runner.EXIT_DISAGREE, (
        f"{mutant[0]} passed {len(session.cases)} cases")


BLIND_AT_WIDTH = pytest.mark.xfail(strict=True, reason=(
    "at realistic width both levels carry a rounding's jumps at their worst case through "
    "products of 256 terms, and every value is within reach of a boundary: the judge is blind "
    "in bfloat16 there until the flips have a probabilistic model (TOLERANCES.md, \"Reduced "
    "precision\"); strict, so that the model's landing says so"))


@pytest.mark.parametrize("case", [pytest.param(c.name, marks=BLIND_AT_WIDTH if max(c.layers) > 64
                                               else ()) for c in POLICY])
def test_a_quarter_of_a_bfloat16_ulp_in_dw_fails_under_a_policy(planted, case):
    """dW off by a relative 1e-3, a quarter of bfloat16's unit: torch's bf16 default (rtol
    1.6e-2) cannot see it; rounded where the policy says, it moves dW's bfloat16 value
    wherever it crosses a rounding boundary that rounding alone cannot reach."""
    dW = next(m for m in mutants.SCALED if m[0] == "dW")
    impls = planted(mutants.scaled(dW, 1e-3), "mutant")
    session = runner.run([catalogue.get(case)], impls, oracles=ORACLES)
    assert session.exit_code == runner.EXIT_DISAGREE, [v.message for v in session.verdicts]


@pytest.mark.parametrize("mutant,case", [
    (mutants.EQUIVALENT[0], "multiclass-softmax"), (mutants.EQUIVALENT[1], "reduction-sum"),
    (mutants.EQUIVALENT[2], "gd-minibatch"), (mutants.EQUIVALENT[3], "deep-relu")],
    ids=[m[0] for m in mutants.EQUIVALENT])
def test_the_main_job_passes_a_rewrite_with_other_rounding(planted, mutant, case):
    impls = planted(mutant, "rewrite")
    session = runner.run([catalogue.get(case)], impls, oracles=ORACLES)
    assert session.exit_code == runner.EXIT_OK, [v.message for v in session.verdicts]


@pytest.mark.main_job
def test_the_unmutated_copy_is_the_reference(tmp_path, monkeypatch):
    """The control: planted without a mutation, the copy computes the reference's numbers bit
    for bit on every catalogue case, and the reference passes wherever it is judged (its
    float32 runs against the float64 oracle): so each mutant fails by its mutation alone.
    At realistic width both run here, in one process: OpenBLAS splits products that large
    across threads, whose number differs between the main job's process and this one."""
    import reference
    monkeypatch.syspath_prepend(str(tmp_path))
    copy = importlib.import_module(mutants.plant(tmp_path, CLEAN_COPY))
    job = main_job()
    for case in CASES:
        with np.errstate(all="ignore"):
            got = copy.train(case)
            want = (reference.train(case) if max(case.layers) >= 256
                    else job.result(case.name, "reference"))
        assert_same_result(got, want, case.name)
    own = [v for v in job.verdicts() if v["pair"] == ["reference", "reference-float64"]]
    assert own and all(v["status"] == "pass" for v in own), [v for v in own if v["status"] != "pass"]


def test_the_command_line_exits_1_on_a_mutant(tmp_path):
    module = mutants.plant(tmp_path, "cli_mutant", next(m for m in mutants.BUGS
                                                       if m[0] == "db-averaged-again"))
    proc = cli("--impl", module, "-x", "--cases", "deep-relu*", "--no-plots", "--quiet", "--out",
               tmp_path / "r", pythonpath=[tmp_path])
    assert proc.returncode == 1 and "FAIL" in proc.stdout.splitlines()[-1], proc.stdout[-2000:]


# At realistic width ([784, 256, 256, 10], m = 256: the catalogue's wide cases and their other
# dtype), a relative error planted in one formula: 1e-4 in float32 (about 1,700 ulps) and
# 1e-11 in float64 (about 90,000 ulps) must fail, each (issue #20; TOLERANCES.md, "How sharp").
# The worst-case level alone catches none of them; the probabilistic level and the one-step
# judging of every update do.
SCALED = [(case, m) for case in mutants.WIDE for m in mutants.scaled_for(case)]


@pytest.fixture(scope="module")
def wide_oracles():
    return {}


# CI judges two of the 28, one per network and dtype of the catalogue's wide cases: the tanh
# activation in float32 and the relu network's update in float64 (about 19 s and 9 s on 2
# cores); the nightly profile all 28 (tools/scale-mutants.py gives their figures).
IN_CI = {("tanh-float32", "tanh"), ("relu-float64", "update")}
AT_NIGHT = pytest.mark.nightly("one of the 28 planted errors at realistic width, 8-19 s each; "
                               "CI plants two (tanh-float32-tanh, relu-float64-update)")


@pytest.mark.parametrize("case,mutant", [
    pytest.param(c, m, id=f"{c}-{m[0]}", marks=() if (c, m[0]) in IN_CI else AT_NIGHT)
    for c, m in SCALED])
def test_a_relative_error_at_realistic_width_fails(planted, wide_oracles, case, mutant):
    assert_fails_at_width(planted, wide_oracles, case, mutant, {"float32": 1e-4,
                                                                "float64": 1e-11})


# Issue #20's goal, ten times smaller: 1e-12 in float64 fails too (error/p-bound 3.3 to 20 on
# 2026-11-29); in the nightly campaign's profile, which has the time. (1e-5 in float32 does
# not: `python tools/scale-mutants.py --factor 0.1`, TOLERANCES.md "How sharp".)
GOAL = [(case, m) for case, m in SCALED if case.endswith("float64")]


@pytest.mark.nightly("issue #20's goal power, about 3 min")
@pytest.mark.parametrize("case,mutant", GOAL, ids=[f"{c}-{m[0]}" for c, m in GOAL])
def test_a_relative_error_of_1e_12_at_realistic_width_fails_in_float64(planted, wide_oracles,
                                                                       case, mutant):
    assert_fails_at_width(planted, wide_oracles, case, mutant, {"float64": 1e-12})


def assert_fails_at_width(planted, wide_oracles, case, mutant, eps_of):
    c = mutants.wide_case(case)
    eps = eps_of[c.dtype]
    package = f"wide_{case.replace('-', '_')}_{mutant[0].replace('-', '_')}".lower()
    impls = planted(mutants.scaled(mutant, eps), package)
    session = runner.run([c], impls, oracles=wide_oracles)
    (v,) = [v for v in session.verdicts if v.pair[0] == package]
    assert v.status == "FAIL", f"{mutant[0]} at {eps:g} passed {c.name}: {v.message}"


# The nine optimizer bugs at realistic width (issue #31, item 7): each planted in
# wide-adamw-cosine-float32, or the variant of it that exercises the bug
# (mutants.WIDE_VARIANTS), must fail. At this width the worst-case bound of a parameter after an
# Adam update overflows; the probabilistic level of the optimizer's update judges it
# (TOLERANCES.md, "Optimizers"). CI plants one that only the probabilistic level sees; the
# night all nine (tools/scale-mutants.py --optimizers gives their figures).
OPTIMIZER_BUGS = [m for m in mutants.BUGS if m[1] == "optimizers.py"]
OPTIMIZER_AT_WIDTH_IN_CI = {"adam-epsilon-inside-the-root"}
OPTIMIZER_AT_WIDTH_AT_NIGHT = pytest.mark.nightly(
    "one of the nine optimizer bugs at realistic width, about 20 s each; CI plants "
    + ", ".join(sorted(OPTIMIZER_AT_WIDTH_IN_CI)))


@pytest.mark.parametrize("mutant", [
    pytest.param(m, id=m[0], marks=() if m[0] in OPTIMIZER_AT_WIDTH_IN_CI
                 else OPTIMIZER_AT_WIDTH_AT_NIGHT) for m in OPTIMIZER_BUGS])
def test_an_optimizer_bug_at_realistic_width_fails(planted, wide_oracles, mutant):
    c = mutants.wide_optimized_case(mutant[0])
    package = f"wide_optimizer_{OPTIMIZER_BUGS.index(mutant)}"  # a registry name is short
    impls = planted(mutant, package)
    session = runner.run([c], impls, oracles=wide_oracles)
    (v,) = [v for v in session.verdicts if v.pair[0] == package]
    assert v.status == "FAIL", f"{mutant[0]} passed {c.name}: {v.message}"
