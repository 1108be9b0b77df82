"""The comparer (comparisons/judge/parity.py): ULPs, a planted error named by its tensor, the
amplification kappa, and the information columns that never decide."""

import dataclasses

import numpy as np
import pytest

import reference
import torch_impl
from comparisons import catalogue
from comparisons import judge as judging
from comparisons.judge.parity import amplification, compare, compare_results, ulp_distance
from comparisons.protocol.case import Case, generate_data, init_params
from helpers import assert_no_failure, here, implementation, judge, registered_names


def test_ulp_distance_is_exact_on_neighbours():
    x = np.array([1.0, -1.0, 0.0, 1e-300])
    assert ulp_distance(x, np.nextafter(x, np.inf)).tolist() == [1, 1, 1, 1]
    eps32 = np.float32(np.finfo(np.float32).eps)
    assert ulp_distance(np.float32([1.0]), np.float32([1.0]) + eps32)[0] == 1
    assert ulp_distance(np.array([-0.0]), np.array([0.0]))[0] == 0


def test_a_gradient_wrong_by_1e_12_fails_and_names_its_tensor():
    case = catalogue.get("shallow-3-4-1")
    base = reference.train(case)
    amp = amplification(case, base)
    wrong = dataclasses.replace(base, gradients=dict(base.gradients,
                                                     W1=base.gradients["W1"] * (1 + 1e-12)))
    rows = compare_results(wrong, base, amp, "float64", "float64", case)
    failed = [r.name for r in rows if not r.ok]
    assert failed == ["dW1"], [r.line() for r in rows]


def test_amplification_sees_a_chaotic_run():
    """A run that magnifies rounding gets a large kappa: half squared error on a tanh/sigmoid
    net at lr 20 (found by a random search; it still learns, loss 0.30 -> 0.034), against at
    most a few hundred on the catalogue. Its bounds keep their digits (no horizon), and the
    implementations agree there at (1 + kappa) times their bound, trajectory included."""
    layers = [7, 6, 4]
    X, Y = generate_data(layers, "half_sse", {"generator": "regression", "m": 6, "seed": 460})
    case = Case(name="chaotic", layers=layers, activations=["tanh", "sigmoid"],
                loss="half_sse", reduction="mean", params=init_params(layers, "normal", 460),
                X=X, Y=Y, lr=20.0, epochs=33, schedule="simultaneous")
    base = reference.train(case)
    amp = amplification(case, base)
    assert 1e4 < amp.kappa < 2 ** 20 and amp.bounds["horizon"] is None
    rows = compare_results(torch_impl.train(case), base, amp, "float64", "float64", case)
    assert all(r.ok for r in rows), [r.line() for r in rows]


def test_a_short_run_keeps_the_rounding_its_updates_leave_behind():
    """Found by the seeded nightly campaign (--hypothesis-seed=20261123): two float32 updates
    whose random-sign perturbations cancelled, measured kappa 0.0025, and every float32 run
    (the reference's included) 1 ULP = 1.49 U from the float64 oracle in its final W1. kappa
    is floored by the random walk of the updates' own rounding, sqrt(sum R^2) / U."""
    case = Case(name="drawn", layers=[2, 1], activations=["sigmoid"], loss="half_sse",
                reduction="sum", params={"W1": np.array([[0.38738615, -0.6511415]]),
                                         "b1": np.array([[0.0]])},
                X=np.array([[0.12573022], [-0.13210486]]), Y=np.array([[0.51178222]]),
                lr=0.01, epochs=2, trainable=("W1",), dtype="float32")
    oracle = judging.make_oracle(case)
    E = oracle.amp.bounds
    floor = float(np.max(E["carried"]["W1"] / E["final_params"]["W1"]))
    assert floor == pytest.approx(np.sqrt(2), rel=0.2) and oracle.kappa >= floor
    results = {n: implementation(n)[1].train(case) for n in here(registered_names())
               if not implementation(n)[0].unsupported(case)}
    assert_no_failure(judge(case, results), "the campaign's draw")


def test_relative_error_is_information_only_where_it_means_something():
    """max rel and max ULP count only elements that stand above their bound: an exact 0
    computed as 1e-17 (within its bound) has a relative error of 1 that measures nothing."""
    exact_zero = compare("dW1", np.array([[1e-17, 2.0]]), np.array([[0.0, 2.0 + 4e-16]]),
                         np.array([[1e-16, 1e-15]]))
    assert exact_zero.ok and exact_zero.max_rel == pytest.approx(2e-16, rel=0.1)
    assert exact_zero.max_ulp == 1
    unresolved = compare("db1", np.array([1e-17]), np.array([0.0]), np.array([1e-16]))
    assert unresolved.ok and unresolved.max_rel != unresolved.max_rel  # nan: shown as –
    assert "max rel –" in unresolved.line()
