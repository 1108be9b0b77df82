"""reference.small (Python floats, for small networks) against the vectorised reference."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from comparisons import catalogue
from comparisons.parity import amplification
from helpers import assert_parity, kappa_of
from reference import Case, small, train
from reference.case import generate_data, init_params

ELIGIBLE = [n for n in catalogue.names() if small.eligible(catalogue.get(n))]


def test_the_worked_example_and_seed003_take_the_small_path():
    assert {"mazur-sequential", "mazur-simultaneous", "seed003-xor", "seed003-and"} <= set(ELIGIBLE)
    assert not small.eligible(catalogue.get("mazur-sequential").replace(dtype="float32"))
    assert not small.eligible(catalogue.get("multiclass-softmax"))


@pytest.mark.parametrize("name", ELIGIBLE)
def test_small_path_equals_vectorised_path(name):
    case = catalogue.get(name)
    assert_parity(train(case), train(case, small_path=False), "float64",
                  f"{name}: small vs numpy", kappa=kappa_of(name))


@given(st.integers(1, 3), st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu", "identity"]),
       st.sampled_from([("sigmoid", "bce"), ("sigmoid", "half_sse"), ("identity", "mse"),
                        ("tanh", "half_sse")]),
       st.sampled_from(["sum", "mean"]), st.sampled_from(["simultaneous", "sequential"]),
       st.integers(1, 4), st.integers(0, 1000))
def test_small_path_on_drawn_small_networks(depth, hidden, out, reduction, schedule, m, seed):
    """As in test_properties: lr per sample; divergent or chaotic draws are not compared."""
    layers = [2] + [2] * (depth - 1) + [1]
    acts = [hidden] * (depth - 1) + [out[0]]
    X, Y = generate_data(layers, out[1], {"generator": "blobs" if out[1] == "bce" else
                                          "regression", "m": m, "seed": seed})
    case = Case(name="drawn", layers=layers, activations=acts, loss=out[1], reduction=reduction,
                params=init_params(layers, "glorot_uniform", seed), X=X, Y=Y,
                lr=0.3 / (1 + seed % m) if reduction == "sum" else 0.3, epochs=5,
                batch_size=1 + seed % m, shuffle_seed=seed, schedule=schedule,
                trainable=None if seed % 3 else ["W1"])
    assume(small.eligible(case))
    kappa = amplification(case)
    assume(math.isfinite(kappa) and kappa < 1e6)
    a, b = train(case), train(case, small_path=False)
    assert_parity(a, b, "float64", f"small vs numpy on {layers} {acts} {out} m={m}",
                  kappa=kappa)
    assert np.array_equal(a.final_params["b1"], case.params["b1"]) or seed % 3
