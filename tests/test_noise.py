"""The probabilistic level (comparisons/judge/noise.py) on its own: its χ² and Hoeffding
constants, the responses it measures, its decisions within reach, its refusals, and that its
bound holds on real float32 rounding while staying far below the worst case at width
(TOLERANCES.md, "Two levels")."""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference
from comparisons import catalogue
from comparisons.judge import bounds, noise
from comparisons.judge.oracle import oracle_case
from comparisons.judge.parity import gamma
from comparisons.protocol.cost import K_SAMPLES
from reference import network

U32, U64 = 2.0 ** -24, 2.0 ** -53


@pytest.mark.parametrize("K", [8, 32, 128])
def test_the_level_is_the_chi2_mixture_of_hoeffding_at_p_over_n(K):
    """2 (1 + x^2/K)^(-K/2) = E[2 exp(-x^2 chi2_K / (2K))] = p/N at x = factor; it falls with
    K towards Hoeffding's lam (V known), and stays above it."""
    level = noise.Level(K, 1e-9, 10 ** 6)
    assert level.tail(level.factor) == pytest.approx(1e-9 / 10 ** 6, rel=1e-9)
    assert 2 * math.exp(-level.lam ** 2 / 2) == pytest.approx(1e-9 / 10 ** 6, rel=1e-12)
    assert level.lam < noise.Level(2 * K, 1e-9, 10 ** 6).factor < level.factor


def test_the_mixture_tail_holds_for_gaussian_errors_by_simulation():
    """The statement on its own terms: e ~ N(0, V) and sigma_hat^2 = V chi2_K / K drawn
    independently; the frequency of |e| >= x sigma_hat stays below tail(x) (at a level a
    simulation can see: tail 1e-3, 200,000 draws, expected <= 200, a 5-sigma margin 70)."""
    K, draws = 32, 200_000
    level = noise.Level(K, 1e-3, 1)
    rng = np.random.default_rng(11)
    e = rng.standard_normal(draws)
    sigma_hat = np.sqrt(rng.chisquare(K, draws) / K)
    hits = int(np.sum(np.abs(e) >= level.factor * sigma_hat))
    assert hits <= draws * 1e-3 + 70, hits


def _responses(fn, *arrays, K=4096, seed=3, dtype="float64"):
    """sigma_hat^2 of fn(*arrays) from K responses (in units of u, per element)."""
    with np.errstate(all="ignore"), noise.context(K, seed, 1.0, dtype):
        out = fn(*(noise.exact(a) for a in arrays))
        return noise.response_norm(out.t) ** 2 / K, out


def test_one_rounding_has_the_variance_of_its_result():
    """x + y rounds once: its response has standard deviation |x + y| (in units of u). With
    4,096 responses the sample variance is within 10% of V (a 6.4-sigma deviation of chi2_4096
    would be needed to leave it; the seed is fixed)."""
    x, y = np.array([[1.5, -2.0, 1e-3]]), np.array([[0.25, 1.0, 3.0]])
    var, out = _responses(lambda a, b: a + b, x, y)
    np.testing.assert_allclose(var, (x + y) ** 2, rtol=0.1)
    assert out.j is None  # no decision: no jump


def test_errors_propagated_with_both_signs_cancel_where_the_worst_case_adds_them():
    """(A * C) @ B with n = 1,000 random terms: the products' errors reach the sum with both
    signs, so the measured sqrt(V) is about sqrt(n) times below the worst case, which adds
    them as if every sign agreed (the sharpness the level exists for)."""
    rng = np.random.default_rng(0)
    A, C, B = rng.normal(size=(1, 1000)), rng.normal(size=(1, 1000)), rng.normal(size=(1000, 1))
    var, _ = _responses(lambda a, c, b: (a * c) @ b, A, C, B, K=256)
    worst = (bounds.Traced(A) * bounds.Traced(C)) @ bounds.Traced(B)
    ratio = np.sqrt(var).item() / worst.bound.item()
    assert ratio < 3 / math.sqrt(1000), ratio


def test_equal_terms_round_alike_and_get_the_worst_case_size():
    """A constant row times a constant column: every partial sum has the same error, so the
    sum's size is the worst case's (n - 1) sum|x|, not sqrt(n) of it."""
    n = 64
    var, _ = _responses(lambda v: v.sum(axis=1, keepdims=True), np.full((1, n), 0.5), K=2048)
    assert np.sqrt(var).item() == pytest.approx((n - 1) * 0.5 * n, rel=0.1)


def test_a_decision_within_reach_is_a_jump_of_its_gap():
    """relu'(z) at z = 0 computed with an error: another correct implementation may take the
    other branch, so the jump (the gap 1 between the branches) is a worst-case source."""
    x, y, b = np.array([[0.5, 2.0, 2.0]]), np.array([[3.0, 1.0, -1.0]]), np.array([[1.5, 0, 0]])
    # reach: within 2^-20 of the rounding's standard deviation (in units of u) of 0
    with np.errstate(all="ignore"), noise.context(64, 0, 2.0 ** -20, "float64"):
        z = noise.exact(x) * noise.exact(y) - noise.exact(b)  # 0 with the product's error, 2, -2
        d = reference.activations.relu_derivative(z)
    assert d.j is not None and d.j.tolist() == [[1.0, 0.0, 0.0]]
    # exactly computed values are never ambiguous: relu'(0) of an exact 0 is a convention
    with np.errstate(all="ignore"), noise.context(64, 0, 2.0 ** -20, "float64"):
        exact_zero = reference.activations.relu_derivative(noise.exact(np.zeros((1, 1))))
    assert exact_zero.j is None


def test_an_operation_without_a_rule_and_a_conversion_are_refused():
    with noise.context(4, 0, 1.0, "float64"):
        v = noise.exact(np.ones((2, 2)))
        with pytest.raises(TypeError, match="no rounding rule"):
            np.sin(v)
        with pytest.raises(TypeError, match="without a rule"):
            np.asarray(v)


def test_evaluating_outside_a_context_is_refused():
    with pytest.raises(RuntimeError, match="noise.context"):
        noise.exact(np.ones((1, 1)))


def test_identical_samples_and_units_are_counted_as_duplicates():
    case = catalogue.get("xor-2-2-1")
    X = np.hstack([case.X, case.X])  # every sample twice
    assert noise.duplicates(case, X, case.params) == 2 * noise.duplicates(case, case.X,
                                                                          case.params)


@pytest.mark.parametrize("name", ["multiclass-softmax-float32", "shallow-3-4-1-float32",
                                  "deep-relu-float32"])
def test_the_float32_reference_is_within_the_probabilistic_bound_of_its_step0_values(name):
    """The level's statement on real rounding: the float32 reference's step-0 gradients and
    initial A[L] differ from the float64 oracle's by at most (u32 + u64) gamma S + J."""
    case = catalogue.get(name)
    oc = oracle_case(case)
    units = noise.initial_units(oc, case.dtype)
    assert units["K"] == K_SAMPLES and units["p"] == noise.P_RUN
    with np.errstate(all="ignore"):
        f32, f64 = reference.train(case), reference.train(oc)
    values = {f"d{k}": (f32.gradients[k], f64.gradients[k]) for k in f64.gradients}
    values["initial A[L]"] = (f32.initial_outputs, f64.initial_outputs)
    g = gamma(oc, U32)
    for key, (a, b) in values.items():
        S, J = units["S"][key], units["J"][key]
        err = np.abs(np.asarray(a, dtype=np.float64) - b)
        bound = (U32 + U64) * g * S + J
        assert np.all(err <= bound), (key, float(np.max(err / bound)))
        assert np.all(np.isfinite(S) | (np.abs(b) < 1e-30)), key


def test_step_units_bound_the_gradients_the_loss_and_every_updated_parameter():
    case = catalogue.get("gd-batch")
    one = case.replace(epochs=1)
    units = noise.step_units(one, "float32", 32)
    assert set(units["S"]) == ({"losses"} | {f"final {k}" for k in one.params}
                               | {f"d{k}" for k in one.params})
    assert units["S"]["losses"].shape == (2,) and np.isinf(units["S"]["losses"][1])
    for k, v in one.params.items():
        assert units["S"][f"final {k}"].shape == v.shape


def test_the_forward_pass_runs_unchanged_on_noisy_arrays():
    """The reference's own functions, unchanged: the exact value is the plain value exactly,
    and K responses stand beside it."""
    case = catalogue.get("shallow-3-4-1")
    with np.errstate(all="ignore"), noise.context(8, 0, 1.0, "float64"):
        P = {k: noise.exact(v) for k, v in case.params.items()}
        AL, _ = network.forward_propagation(case.X, P, case.activations)
    plain, _ = network.forward_propagation(case.X, case.params, case.activations)
    np.testing.assert_array_equal(AL.b, plain)
    assert AL.t.shape == (8,) + plain.shape


@pytest.mark.parametrize("name", ["multiclass-softmax-float32", "deep-relu-float32"])
def test_many_passes_with_events_drawn_late_measure_the_variance_of_one_pass(monkeypatch, name):
    """K responses in one pass (every event drawn where it happens) and in passes of 7 (the
    first counts the consumers, the later draw events late, noise.measure): the same V. With
    K = 512 each sum of squared responses over a value's elements is within a few percent of
    its expectation (chi2 with 512 degrees of freedom or more per element: 6 standard
    deviations of the ratio of two are 27%), and the jumps are the same."""
    from comparisons.protocol.parts import batches_of, one_update
    case = catalogue.get(name)
    one = oracle_case(one_update(case, case.params, 0, batches_of(case)))
    K = 512
    monkeypatch.setattr(noise, "_group", lambda *a: K)
    whole = noise.step_units(one, "float32", K)
    monkeypatch.setattr(noise, "_group", lambda *a: 7)
    passes = noise.step_units(one, "float32", K)
    for key, S in whole["S"].items():
        finite = np.isfinite(S) & (S > 0)
        if not finite.any():
            continue
        ratio = np.sum(passes["S"][key][finite] ** 2) / np.sum(S[finite] ** 2)
        assert abs(ratio - 1) < 0.27, (key, ratio)
        np.testing.assert_array_equal(passes["J"][key], whole["J"][key])


def test_a_pass_that_takes_other_operations_is_refused():
    """The passes of one evaluation share a tape: a product where the first pass had another
    is an error, never a silent mix of two computations."""
    tape = []
    with noise.context(2, 0, 1.0, "float64", tape):
        noise.exact(np.ones((2, 3))) @ noise.exact(np.ones((3, 2)))
    with noise.context(2, 1, 1.0, "float64", tape), pytest.raises(RuntimeError, match="operation 0"):
        noise.exact(np.ones((2, 2))) @ noise.exact(np.ones((2, 2)))


def test_responses_of_values_far_below_the_square_root_of_the_smallest_double_are_measured():
    """float64 values of 1e-186 (a saturated sigmoid's gradients) round like any other: their
    responses are of that size, whose squares underflow. The norm of the responses is
    measured without squaring them unscaled, and events drawn late keep their size (found by
    the nightly campaign on 2026-12-02: S was 0 there, a false alarm)."""
    x, y = np.array([[1.5e-186, -2e-186]]), np.array([[0.25e-186, 1e-186]])
    K = 256

    def fn(a, b):
        return (a + b) * 3.0 + a
    r = fn(x, y)
    with noise.context(K, 5, 1.0, "float64"):
        once = fn(noise.exact(x), noise.exact(y))
    sigma = noise.response_norm(once.t) / math.sqrt(K)  # three roundings, each about |r|
    assert np.all((sigma > 0.5 * np.abs(r)) & (sigma < 10 * np.abs(r))), sigma / np.abs(r)
    tape, uses = [], {}
    for record in (True, False):  # a first pass that counts, then one that draws late
        with noise.context(K, 6, 1.0, "float64", tape, uses=uses, record=record):
            late = noise._settled(fn(noise.exact(x), noise.exact(y)))
    np.testing.assert_allclose(noise.response_norm(late.t) / math.sqrt(K), sigma, rtol=0.25)
