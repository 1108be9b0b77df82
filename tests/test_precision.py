"""Reduced precision (issue #32): the policy in the case, the reference's rounding, the
judge's two units and its decision at every rounding (docs/CASES.md and TOLERANCES.md,
"Reduced precision"). The power against planted bugs is tests/test_mutations.py's."""

import json

import ml_dtypes
import numpy as np
import pytest

from comparisons import catalogue, protocol
from comparisons.judge import bounds
from comparisons.protocol import CaseError, case_from_dict
from comparisons.protocol.registry import ProtocolError, declaration
from helpers import ROOT, cli
from reference import precision

CASES = ROOT / "tests" / "cases"
POLICY_CASES = [n for n in catalogue.names() if catalogue.get(n).precision is not None]


def _dict(name="shallow-3-4-1-float32", **changes):
    d = catalogue.get(name).to_dict()
    d.update(changes)
    return d


# --- round_to: correctly rounded from float64, never through float32 -------------------------

def _neighbours(r, dtype):
    low = precision.LOW[dtype]
    r_low = np.asarray(r).astype(low)
    return (np.nextafter(r_low, np.asarray(-np.inf, low)).astype(np.float64),
            np.nextafter(r_low, np.asarray(np.inf, low)).astype(np.float64))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_round_to_is_the_nearest_low_value_ties_to_even(dtype):
    rng = np.random.default_rng(32)
    eps = float(ml_dtypes.finfo(precision.LOW[dtype]).eps)
    x = rng.uniform(-4, 4, 20_000)
    # midpoints of neighbouring low values, and a float64 hair to either side: the values
    # that a rounding through float32 rounds wrong
    grid = precision.round_to(x, dtype)
    mid = grid + np.sign(grid) * eps * np.abs(grid) / 4
    x = np.concatenate([x, mid, mid * (1 + 2.0 ** -40), mid * (1 - 2.0 ** -40)])
    r = precision.round_to(x, dtype)
    assert np.array_equal(r.astype(precision.LOW[dtype]).astype(np.float64), r)  # representable
    down, up = _neighbours(r, dtype)
    # no neighbour is nearer (differences of values this close are exact in float64: Sterbenz)
    assert np.all(np.abs(x - r) <= np.abs(x - down)) and np.all(np.abs(x - r) <= np.abs(x - up))
    tie = (np.abs(x - r) == np.abs(x - down)) | (np.abs(x - r) == np.abs(x - up))
    bits = r[tie].astype(precision.LOW[dtype]).view(np.uint16)
    assert np.all(bits % 2 == 0), "a tie not rounded to even"


def test_round_to_corrects_the_double_rounding_through_float32():
    # 1 + 2^-8 + 2^-30: above the midpoint of 1 and 1 + 2^-7, but float32 rounds it onto the
    # midpoint, which ties to 1; rounded once, it is 1 + 2^-7
    x = np.array([1 + 2.0 ** -8 + 2.0 ** -30])
    assert x.astype(ml_dtypes.bfloat16).astype(np.float64)[0] == 1.0  # NumPy's, twice
    assert precision.round_to(x, "bfloat16")[0] == 1 + 2.0 ** -7


def test_round_to_overflows_to_inf_and_keeps_a_float32_array_float32():
    x = np.array([65519.0, 65520.0, -1e6])
    assert list(precision.round_to(x, "float16")) == [65504.0, np.inf, -np.inf]
    f = np.array([1.1], dtype=np.float32)
    assert precision.round_to(f, "bfloat16").dtype == np.float32


def test_without_a_policy_nothing_is_rounded():
    x = np.array([0.1])
    assert precision.current() is None
    assert precision.to_compute(x) is x and precision.to_output(x) is x
    with precision.policy(catalogue.get("bf16-multiclass").precision):
        assert precision.to_compute(x)[0] == precision.round_to(x, "bfloat16")[0] != x[0]


# --- the bound of a rounding: a decision ------------------------------------------------------

def test_a_rounding_far_from_every_boundary_is_exact_and_one_near_a_boundary_may_jump():
    v = np.array([1.5, 1 + 2.0 ** -8 + 2.0 ** -20])  # mid-interval; 2^-20 above a midpoint
    with bounds.context("float32"):
        ctx = bounds._CONTEXT.get()
        r = bounds.Traced(v, np.array([1.0, 2.0 ** 10])).rounded_to("bfloat16")
        margin = ctx.min_margin
    assert list(r.v) == [1.5, 1 + 2.0 ** -7]
    # element 0: u e = 2^-24, far from the boundaries 1.5 -+ 2^-8: exact. Element 1: its
    # reach 2^-14 crosses the midpoint 1 + 2^-8: 1 or 1 + 2^-7, a jump of one unit 2^-7
    assert r.e[0] == 0 and r.e[1] * 2.0 ** -24 == 2.0 ** -7
    assert margin == pytest.approx(2.0 ** -20 / 2.0 ** -14)  # logged: the trajectory may flip


def test_an_exact_input_rounds_exactly():
    r = bounds.Traced(np.array([0.1])).rounded_to("bfloat16")
    assert r.e is None and r.v[0] == precision.round_to(np.array([0.1]), "bfloat16")[0]


# --- the case's policy: bad input is one line ------------------------------------------------

@pytest.mark.parametrize("changes,message", [
    pytest.param({"precision": "bf8"}, "precision: unknown policy 'bf8'; expected one of bf16, "
                 "autocast-bf16, autocast-fp16", id="unknown-name"),
    pytest.param({"precision": {"compute": "float32"}}, "precision.compute: unknown value "
                 "'float32'; expected one of bfloat16, float16", id="compute-not-low"),
    pytest.param({"precision": {"output": "float32"}}, "precision.compute: missing",
                 id="compute-missing"),
    pytest.param({"precision": {"compute": "bfloat16", "output": "float16"}},
                 "precision.output: expected 'float32' or the compute dtype 'bfloat16'",
                 id="two-low-dtypes"),
    pytest.param({"precision": {"compute": "bfloat16", "accumulate": "bfloat16"}},
                 "precision.accumulate: expected 'float32' (products summed in float32, as the "
                 "kernels sum them), got 'bfloat16'", id="low-sums"),
    pytest.param({"precision": {"compute": "bfloat16", "master": "float32"}},
                 "precision.master: unknown field; expected compute, accumulate, output, params",
                 id="unknown-field"),
    pytest.param({"precision": "bf16", "dtype": "float64"}, "precision: a reduced-precision "
                 "policy keeps the master weights in the case's dtype, which must be float32; "
                 "got dtype 'float64'", id="float64-master"),
    pytest.param({"precision": 16}, "precision: expected a policy's name", id="not-a-policy"),
])
def test_a_bad_policy_is_one_line_naming_the_field(changes, message):
    with pytest.raises(CaseError) as e:
        case_from_dict(_dict(**changes))
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_policy_refuses_the_sequential_schedule_and_low_master_weights_with_adam():
    d = _dict("mazur-sequential", dtype="float32", precision="autocast-bf16")
    with pytest.raises(CaseError, match="applies to the simultaneous schedule"):
        case_from_dict(d)
    d = _dict("optim-adam-hat-float32", precision="bf16")
    with pytest.raises(CaseError, match="precision.params: bfloat16 parameters are updated by "
                                        "plain SGD here"):
        case_from_dict(d)
    assert case_from_dict(_dict("optim-adam-hat-float32", precision="autocast-bf16")).precision


def test_the_command_line_refuses_a_bad_policy_before_any_work(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_dict(precision={"compute": "bfloat16", "params": "float16"})))
    r = cli("run", path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == ("error: precision.params: expected 'float32' or the compute "
                                "dtype 'bfloat16', got 'float16'")


def test_a_policy_round_trips_through_the_case_file():
    c = catalogue.get("bf16-autocast-shallow")
    assert c.to_dict()["precision"] == "autocast-bf16"
    custom = {"compute": "float16", "accumulate": "float32", "output": "float16",
              "params": "float32"}
    c2 = case_from_dict(_dict(precision=custom))
    assert c2.precision == custom and case_from_dict(c2.to_dict()).precision == custom


@pytest.mark.parametrize("command", ["walkthrough", "diagnose"])
def test_commands_that_do_not_trace_a_policy_say_so(command):
    r = cli(command, "bf16-autocast-shallow", *(["--impl", "torch"] if command == "diagnose"
                                                else []))
    assert r.returncode == 2
    assert "has the reduced-precision policy autocast-bf16" in r.stderr


def test_run_refuses_float64_for_a_policy_case():
    r = cli("run", "bf16-autocast-shallow", "--dtype", "float64")
    assert r.returncode == 2 and "master weights are float32" in r.stderr


# --- who runs a policy: declared ----------------------------------------------------------------

def test_an_implementation_that_declares_no_policy_is_skipped_with_the_reason():
    case = catalogue.get("bf16-multiclass")
    why = protocol.resolve("keras").unsupported(case)
    assert why == "reduced precision compute:bfloat16 is not supported (policy bf16)"
    for name in ("reference", "torch", "jax", "tensorflow"):
        assert protocol.resolve(name).unsupported(case) is None, name
    # a data-parallel variant's ranks run the plain program: listed, never run unrounded
    assert protocol.resolve("torch").data_parallel_variant(2).unsupported(case) == why


def test_a_misspelt_precision_declaration_is_refused(tmp_path, monkeypatch):
    (tmp_path / "badprec.py").write_text(
        "IMPLEMENTATION = {'name': 'badprec', 'reduced_precision': ['compute:bfloat61']}\n"
        "def train(case):\n    raise AssertionError\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ProtocolError, match="reduced_precision: 'compute:bfloat61': expected "
                                            "FIELD:DTYPE"):
        declaration("badprec")


@pytest.mark.parametrize("name", POLICY_CASES)
def test_the_reference_rounds_every_gradient_where_its_policy_says(name):
    """The float32 run's step-0 gradients are low values (the compute dtype), and the float64
    oracle's are the same low values wherever no rounding boundary lies within reach."""
    import reference
    c = catalogue.get(name)
    low = precision.LOW[c.precision["compute"]]
    r = reference.train(c)
    for k, g in r.gradients.items():
        assert np.array_equal(g.astype(low).astype(g.dtype), g), k


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "tanh"])
def test_the_steepest_slope_bounds_a_change_of_any_size(name):
    """The mean-value bound of every elementary function that a jump can reach: |f(v + d) -
    f(v)| <= steepest(v, |d|) |d|, where f'(v) |d| alone falls short once d is a low unit."""
    f = getattr(np, name)
    rng = np.random.default_rng(7)
    v = rng.uniform(0.05 if name.startswith("log") else -3, 3, 5_000)
    d = v * rng.choice([-1, 1], v.size) * rng.choice([2.0 ** -8, 2.0 ** -11, 0.3], v.size)
    change = np.abs(f(v + d) - f(v))
    allowed = bounds.steepest(name, v, np.abs(d)) * np.abs(d)
    assert np.all(change <= allowed * (1 + 1e-12) + 1e-300)
    slope = {"exp": np.exp(v), "log": 1 / v, "log1p": 1 / (1 + v), "tanh": 1 - np.tanh(v) ** 2}
    assert np.any(change > slope[name] * np.abs(d))  # the first order alone does not hold


def test_a_jump_through_tanh_is_bounded_by_its_steepest_slope():
    """The drawn-policy campaign's draw (tests/cases/policy-tanh-after-a-jump.json)."""
    from comparisons.execution import runner
    case = protocol.load_case(CASES / "policy-tanh-after-a-jump.json")
    impls = {n: protocol.resolve(n) for n in ("reference", "tensorflow")}
    session = runner.run([case], impls)
    assert session.exit_code == runner.EXIT_OK, [v.message for v in session.verdicts]


def test_an_unbounded_error_times_an_exact_zero_is_zero_and_a_nan_bound_rounds_to_anything():
    """Found by the drawn-policy campaign (seed 20261204): an unbounded bound times an exact 0
    made a NaN, which the next rounding read as exact (jax's final loss against 12 u)."""
    T, inf, nan = bounds.Traced, np.inf, np.nan
    with np.errstate(all="raise"), bounds.context("float32"):
        p = T(np.array([0.0, 2.0])) * T(np.array([1.0, 1.0]), np.array([inf, 1.0]))
        assert list(p.e) == [0.0, 4.0]  # 0 * anything is 0; 2 * (1 +- u) rounds once more
        q = T(np.array([0.0, 1.0]), np.array([0.0, 1.0])) * T(np.array([2.0, 2.0]),
                                                              np.array([inf, 1.0]))
        assert q.e[0] == 0.0 and q.e[1] == pytest.approx(5.0)  # e = 0 is exact, u e e too
        M = T(np.zeros((1, 2))) @ T(np.ones((2, 1)), np.array([[inf], [1.0]]))
        assert M.e[0, 0] == 0.0  # an exact 0 row times anything: exactly 0, no NaN
        d = T(np.array([1.0])) / T(np.array([1.0]), np.array([nan]))
        assert d.e[0] == inf  # a divisor about which nothing is known: unbounded
        m = bounds._margin(np.array([1.0]), np.array([nan]), np.array([0.0]), None)
        assert m[0] == 0.0  # a decision on it is at its threshold
        r = T(np.array([1.5]), np.array([nan])).rounded_to("bfloat16")
    assert r.e[0] == inf  # never "exact" for want of a bound
