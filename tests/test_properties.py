"""Property-based parity: hypothesis draws networks, data and training settings, and every
registered implementation must agree with the reference on every draw, as the judge decides
(HYPOTHESIS_PROFILE: ci, derandomised, the default; dev; nightly, 2,000 draws, seeded with
--hypothesis-seed, docs/DEVELOPING.md).

Nothing is filtered out: a run that diverges is compared on its finite prefix, a run that
magnifies rounding beyond the judged kappa has its step 0 judged and its trajectory listed as
not judged, and a run in which a relu' decision may flip is judged up to that update
(TOLERANCES.md). Each draw trains in the implementations' worker processes, which are
recycled, so that a long campaign's compilations do not accumulate in one process
(comparisons/execution/workers.py)."""

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from comparisons import judge, protocol
from comparisons.catalogue.campaign import HIDDEN, LEARNING_RATES, OUTPUTS, build
from comparisons.execution.workers import Pool, acquire
from comparisons.protocol.case import PLAIN_TRAINING

# BACKPROP_PARITY_IMPLS=a,b,...: the campaign against those only (the reference always), for a
# campaign that must finish on a machine where one framework is slow (docs/DEVELOPING.md)
_ONLY = {n for n in os.environ.get("BACKPROP_PARITY_IMPLS", "").split(",") if n}
IMPLS = {n: protocol.resolve(n) for n in protocol.registered()
         if not _ONLY or n in _ONLY or n == judge.ORACLE_NAME}


@st.composite
def cases(draw):
    depth = draw(st.integers(1, 4))
    out_act, loss = draw(st.sampled_from(OUTPUTS))
    widths = draw(st.lists(st.integers(1, 16), min_size=depth + 1, max_size=depth + 1))
    if loss == "cce":
        widths[-1] = max(widths[-1], 2)
    m = draw(st.integers(1, 32))
    acts = [draw(st.sampled_from(HIDDEN)) for _ in range(depth - 1)] + [out_act]
    names = [f"{p}{l}" for l in range(1, depth + 1) for p in "Wb"]
    return build("drawn", widths, acts, loss, draw(st.sampled_from(["sum", "mean"])), m,
                 draw(st.integers(0, 2**16)), draw(st.one_of(st.none(), st.integers(1, m))),
                 draw(st.sampled_from(LEARNING_RATES)), draw(st.integers(1, 3)),
                 draw(st.one_of(st.none(), st.integers(0, 100))),
                 draw(st.sampled_from(["simultaneous", "sequential"])),
                 draw(st.one_of(st.none(), st.lists(st.sampled_from(names), min_size=1,
                                                    unique=True))),
                 draw(st.sampled_from(["float64", "float64", "float32"])))


# Realistic width (issue #20), nightly only: widths up to 1,024, batches up to 1,024, up to
# 200 updates, both dtypes, within a budget of multiply-adds per draw (about one
# wide-tanh-float32) that keeps a draw under a minute on 2 cores.
WIDE_BUDGET = 1.5e9


@st.composite
def wide_cases(draw):
    n0 = draw(st.sampled_from([16, 784]))
    width = draw(st.sampled_from([64, 256, 1024]))
    depth = draw(st.integers(2, 3))
    out_act, loss = draw(st.sampled_from(OUTPUTS))
    widths = [n0] + [width] * (depth - 1) + [10 if loss == "cce" else 1]
    per_sample = sum(a * b for a, b in zip(widths, widths[1:]))
    m = draw(st.sampled_from([m for m in (32, 256, 1024) if per_sample * m * 4 <= WIDE_BUDGET]))
    batch = draw(st.one_of(st.none(), st.sampled_from([b for b in (16, 64) if b < m])))
    per_update = per_sample * (batch or m)
    most = max(1, min(200, int(WIDE_BUDGET // per_update)))
    updates = draw(st.integers(1, most))
    epochs = max(1, updates * (batch or m) // m)
    acts = [draw(st.sampled_from(["tanh", "relu"]))] * (depth - 1) + [out_act]
    return build("drawn-wide", widths, acts, loss, draw(st.sampled_from(["sum", "mean"])), m,
                 draw(st.integers(0, 2**16)), batch, draw(st.sampled_from(LEARNING_RATES)),
                 epochs, None if batch is None else draw(st.integers(0, 100)),
                 draw(st.sampled_from(["simultaneous", "sequential"])), None,
                 draw(st.sampled_from(["float64", "float32"])))


@pytest.fixture(scope="module")
def pool():
    workers = {n: acquire(**i.worker()) for n, i in IMPLS.items() if n != judge.ORACLE_NAME}
    p = Pool(workers, timeout=300, max_tasks=100, max_rss=1536 * 1024 ** 2)
    yield p
    p.close()


FAILING_DIR = Path(tempfile.gettempdir()) / "backprop-parity-failing-cases"


def reproducer(case, impls=()) -> str:
    """Write a drawn case as a case file (named by its content) and return the commands that
    re-run it and localise it, for the failure message."""
    from comparisons.report.output import dumps
    d = case.to_dict()
    d["name"] = "drawn-" + hashlib.sha256(dumps(d).encode()).hexdigest()[:12]
    FAILING_DIR.mkdir(exist_ok=True)
    path = FAILING_DIR / f"{d['name']}.json"
    path.write_text(dumps(d, indent=1) + "\n")
    from comparisons.protocol.cost import DEFAULT_MAX_MEMORY, case_cost
    need = case_cost(case).memory(max(1, len(impls)))
    limit = f" --max-memory {-(-need // 2 ** 20)}M" if need > DEFAULT_MAX_MEMORY else ""
    rerun = (f"python -m comparisons run {path}{limit}"
             + (f" --impl {' '.join(impls)}" if impls else ""))
    return rerun + "".join(f"\n  diagnose: python -m comparisons diagnose {path}{limit} "
                           f"--impl {n}" for n in impls)


def test_a_drawn_case_is_written_as_a_case_file_that_runs(capsys):
    from comparisons.cli import main
    case = build("drawn", [2, 3, 1], ["tanh", "sigmoid"], "bce", "mean", 5, 7, 2, 0.1, 2, 4,
                 "sequential", ["W1", "b2"], "float32")
    command = reproducer(case, ["torch"]).splitlines()[0].split()
    assert main(command[3:] + ["--quiet"]) == 0
    assert "PASS" in capsys.readouterr().out.splitlines()[-1]


def test_a_drawn_case_beyond_the_default_memory_limit_is_reproduced_with_its_own(
        tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "FAILING_DIR", tmp_path)  # 50 MB: not in /tmp
    from comparisons.commands.common import size as _size
    from reference import load_case
    from comparisons.protocol.cost import DEFAULT_MAX_MEMORY, case_cost
    case = build("drawn-wide", [784, 1024, 1024, 10], ["tanh", "tanh", "softmax"], "cce",
                 "mean", 256, 3, None, 0.1, 2, None, "simultaneous", None, "float32")
    assert case_cost(case).memory(4) > DEFAULT_MAX_MEMORY
    lines = reproducer(case, ["torch", "jax", "tensorflow", "paddle"]).splitlines()
    words = lines[0].split()
    limit = _size(words[words.index("--max-memory") + 1])
    assert load_case(words[4], limit).layers == case.layers  # accepted at that limit
    assert all("--max-memory" in line for line in lines)


def trajectories(pool, case, oracle, runs) -> dict:
    """Each implementation's run one update at a time, where the judge judges every update
    (comparisons/judge/local.py), as the main job does."""
    from comparisons.judge import local
    if not local.needed(oracle):
        return {}
    from comparisons.execution.runner import local_runs
    return local_runs(pool, case, oracle, runs, IMPLS, {}, {})


def _describe(case, oracle):
    return (f"{case.layers} {case.activations} {case.loss} {case.reduction} m={case.m} "
            f"bs={case.batch_size} {case.schedule} {case.dtype} lr={case.lr:.3g} "
            f"trainable={case.trainable} kappa={oracle.kappa:.3g}")


# Each draw runs every framework, whose compilation per shape dominates (jax 2 s a draw, TF
# 1.4 s, jax-optax 1 s): CI draws 2 (about 13 s each with eleven implementations; 3 took 37 s
# with nine, 5 took 55 s with six), every other profile its own count.
@settings(max_examples=2 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"
          else settings.default.max_examples)
@given(cases())
def test_every_implementation_agrees_on_drawn_networks(pool, case):
    check_drawn(pool, case)


@pytest.mark.nightly("realistic width, 20 draws, about 30 to 60 min; CI draws small networks "
                     "(test_every_implementation_agrees_on_drawn_networks)")
@settings(max_examples=20)
@given(wide_cases())
def test_every_implementation_agrees_on_drawn_wide_networks(pool, case):
    check_drawn(pool, case)


@st.composite
def training_settings(draw):
    """An optimizer with its conventions, a schedule and clipping (docs/CASES.md,
    "Optimizers"), each drawn over its whole range of conventions."""
    name = draw(st.sampled_from(["sgd", "momentum", "adam", "adamw"]))
    o = {"name": name}
    if name == "momentum":
        o["momentum"] = draw(st.sampled_from([0.5, 0.9, 0.99]))
        o["velocity"] = draw(st.sampled_from(["lr_outside", "lr_inside"]))
        o["nesterov"] = draw(st.booleans())
        if not o["nesterov"] and o["velocity"] == "lr_outside":
            o["dampening"] = draw(st.sampled_from([0.0, 0.1, 0.5]))
    if name in ("adam", "adamw"):
        o["beta1"] = draw(st.sampled_from([0.0, 0.5, 0.9]))
        o["beta2"] = draw(st.sampled_from([0.9, 0.999, 0.9999]))
        o["eps"] = draw(st.sampled_from([1e-12, 1e-8, 1e-3]))
        o["epsilon"] = draw(st.sampled_from(["outside", "inside", "hat"]))
        if o["epsilon"] != "hat":
            o["bias_correction"] = draw(st.booleans())
    decay = draw(st.sampled_from([0.0, 1e-3, 0.05]))
    if decay or name == "adamw":
        o["weight_decay"] = decay or 0.01
        if name != "adamw":
            o["decay"] = draw(st.sampled_from(["coupled", "decoupled"]))
        if o.get("decay", "decoupled") == "decoupled":
            o["decay_lr"] = draw(st.booleans())
    train = {"optimizer": o}
    schedule = draw(st.sampled_from(["constant", "step", "cosine"]))
    if schedule == "step":
        train["lr_schedule"] = {"name": "step", "step_size": draw(st.integers(1, 4)),
                                "gamma": draw(st.sampled_from([0.1, 0.5, 0.9]))}
    elif schedule == "cosine":
        warmup = draw(st.integers(0, 3))
        train["lr_schedule"] = {"name": "cosine", "warmup": warmup,
                                "decay_steps": draw(st.integers(1, 8)),
                                "final_factor": draw(st.sampled_from([0.0, 0.1]))}
        if warmup:
            train["lr_schedule"]["start_factor"] = draw(st.sampled_from([0.0, 0.1]))
    if "lr_schedule" in train:
        train["lr_schedule"]["offset"] = draw(st.integers(0, 1))
    if draw(st.booleans()):
        train["clip"] = {"max_norm": draw(st.sampled_from([1e-3, 0.1, 10.0])),
                         "eps": draw(st.sampled_from([0.0, 1e-6]))}
    return train


@st.composite
def optimized_cases(draw, dtype="float32"):
    """A drawn network (`cases`) with the simultaneous schedule, trained with a drawn
    optimizer, schedule and clipping; in `dtype`, or in the network's own drawn dtype (None)."""
    from comparisons.protocol.case import case_from_dict
    base = draw(cases()).replace(schedule="simultaneous")
    d = base.replace(dtype=dtype or base.dtype).to_dict()
    train = draw(training_settings())
    if dtype is None and train["optimizer"] == {"name": "sgd"} and len(train) == 1:
        train["optimizer"] = {"name": "momentum"}  # plain SGD: the drawn networks' campaign
    d["train"].update(train)
    d["name"] = "drawn-optimizer"
    return case_from_dict(d)


# Only the reference runs every optimizer today: its float32 run against the float64 oracle,
# which judges every update (a run of at most 64 updates) and the whole trajectory. CI draws
# 10 (about 1 s each); the nightly profile its own count.
@settings(max_examples=10 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"
          else settings.default.max_examples)
@given(optimized_cases())
def test_the_reference_in_float32_agrees_with_its_oracle_on_drawn_optimizers(case):
    from comparisons.execution import runner
    session = runner.run([case], {judge.ORACLE_NAME: IMPLS[judge.ORACLE_NAME]})
    assert [v.pair for v in session.verdicts] == [(judge.ORACLE_NAME, "reference-float64")]
    for v in session.verdicts:
        event(f"{v.status}{' (partly not judged)' if v.not_judged else ''}")
    bad = [v for v in session.verdicts if v.failing]
    if bad:
        pytest.fail("\n".join(f"{v.pair}: {v.status}: {v.message}\n" + "\n".join(
            "  " + r.line() for r in v.rows if not r.ok and not r.skipped) for v in bad)
            + f"\non {case.to_dict()['train']}\nreproduce: " + reproducer(case))


# The packages that train with their framework's own optimizers (torch-nn, jax-optax,
# paddle-nn) run each drawn optimizer whose conventions their framework expresses, in both
# dtypes; the others are listed (skipped). A draw that none of them expresses is discarded
# (the reference's float32 campaign above runs every convention), and plain SGD is left to
# the drawn networks' campaign. Each draw compiles jax-optax's update (about 1 s): CI draws
# 4, the night 500 (about 8 min on one core), dev its own count.
@settings(max_examples=4 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"
          else min(500, settings.default.max_examples))
@given(optimized_cases(dtype=None))
def test_every_implementation_agrees_on_drawn_optimizers(pool, case):
    if not OWN_OPTIMIZERS:
        pytest.skip("no implementation installed here trains with its framework's optimizers")
    running = [n for n in OWN_OPTIMIZERS if not IMPLS[n].unsupported(case)]
    assume(running)  # a draw none of them expresses: the reference's own campaign above
    event("run by " + ", ".join(running))
    check_drawn(pool, case)


# The implementations that declare more than W -= lr dW at a constant rate, and can run here
OWN_OPTIMIZERS = [n for n, impl in IMPLS.items() if n != judge.ORACLE_NAME
                  and set(impl.training) - set(PLAIN_TRAINING) and impl.missing() is None]


def check_drawn(pool, case):
    futures = {n: pool.submit(n, case) for n, impl in IMPLS.items()
               if n != judge.ORACLE_NAME and not impl.unsupported(case)}
    oracle = judge.make_oracle(case)
    from comparisons.execution.runner import collect, reference_run
    runs = {judge.ORACLE_NAME: reference_run(case, oracle)}
    runs.update({n: collect(n, f) for n, f in futures.items()})
    expected = {n: IMPLS[n].expected_failure(case) for n in runs}
    verdicts = judge.judge_case(oracle, runs, {n: x for n, x in expected.items() if x},
                                trajectories(pool, case, oracle, runs))
    for v in verdicts:
        event(f"{v.status}{' (partly not judged)' if v.not_judged else ''}")
        for r in v.not_judged:
            event(f"not judged: {r.skipped.split(':')[0][:40]}")
    bad = [v for v in verdicts if v.failing]
    if bad:  # the draw as a case file, with the commands that re-run and localise it
        culprits = sorted({n for v in bad for n in v.pair if n in IMPLS and n != judge.ORACLE_NAME})
        pytest.fail("\n".join(
            f"{v.pair}: {v.status}: {v.message}\n" + "\n".join("  " + r.line() for r in v.rows
                                                               if not r.ok and not r.skipped)
            for v in bad) + f"\non {_describe(case, oracle)}\nreproduce: "
            + reproducer(case, culprits))


@st.composite
def policy_cases(draw):
    """A drawn network (`cases`) in float32 with the simultaneous schedule, under a drawn
    reduced-precision policy: a named one, or its fields drawn (docs/CASES.md, "Reduced
    precision")."""
    from comparisons.protocol.case import PRECISION_POLICIES, case_from_dict
    base = draw(cases()).replace(schedule="simultaneous", dtype="float32")
    d = base.to_dict()
    low = draw(st.sampled_from(["bfloat16", "float16"]))
    d["precision"] = draw(st.one_of(
        st.sampled_from(sorted(PRECISION_POLICIES)),
        st.fixed_dictionaries({"compute": st.just(low)} | {
            k: st.sampled_from(["float32", low]) for k in ("output", "params")})))
    d["name"] = "drawn-policy"
    return case_from_dict(d)


# The packages that round where a policy says (reference, torch, jax, tensorflow) on every
# drawn policy; the others are listed. CI draws 2 (about 8 s each); the night 300.
@settings(max_examples=2 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"
          else min(300, settings.default.max_examples))
@given(policy_cases())
def test_every_implementation_agrees_on_drawn_policies(pool, case):
    event(f"policy {case.precision.get('name', 'drawn fields')}")
    check_drawn(pool, case)
