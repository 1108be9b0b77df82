"""The case catalogue and the case file format."""

import json

import numpy as np
import pytest

from comparisons import catalogue
from comparisons.parity import RTOL, assert_all_close, compare
from helpers import result
from reference import CaseError, case_from_dict, load_case, train

REQUIRED = ["mazur-sequential", "mazur-simultaneous", "shallow-3-4-1", "deep-relu",
            "multiclass-softmax", "seed003-xor", "seed003-and", "xor-2-2-1", "gd-batch",
            "gd-minibatch", "gd-sgd", "reduction-sum", "reduction-mean"]


def test_catalogue_has_one_case_per_seed_example():
    assert set(REQUIRED) <= set(catalogue.names())


@pytest.mark.parametrize("name", catalogue.names())
def test_catalogue_files_are_documented_and_named_after_their_case(name):
    raw = json.loads(catalogue.path(name).read_text())
    assert raw["name"] == name and raw["description"] and raw["source"].startswith("seed")


def test_seed_004_and_seed_000_shapes():
    shallow, deep = catalogue.get("shallow-3-4-1"), catalogue.get("deep-relu")
    assert shallow.layers == [3, 4, 1] and shallow.activations == ["tanh", "sigmoid"]
    assert (shallow.loss, shallow.reduction) == ("bce", "mean") and shallow.m >= 5
    assert deep.activations[:-1].count("relu") >= 3 and deep.activations[-1] == "sigmoid"
    multi = catalogue.get("multiclass-softmax")
    assert multi.activations[-1] == "softmax" and multi.loss == "cce" and multi.layers[-1] >= 3


# --- The seed-003 program, reproduced exactly -------------------------------------------

def seed003_script(labels):
    """Seed 003's program, verbatim but for the labels and the print: the oracle."""
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def sigmoid_derivative(x):
        return x * (1 - x)

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[v] for v in labels])
    np.random.seed(42)
    weights = np.random.rand(2, 1)
    bias = np.random.rand(1)
    learning_rate, epochs, batch_size = 0.1, 10000, 2
    for epoch in range(epochs):  # noqa: B007  (the seed's own code)
        indices = np.arange(X.shape[0])
        np.random.shuffle(indices)
        X = X[indices]
        y = y[indices]
        for i in range(0, X.shape[0], batch_size):
            X_batch = X[i:i + batch_size]
            y_batch = y[i:i + batch_size]
            inputs = X_batch
            z = np.dot(inputs, weights) + bias
            outputs = sigmoid(z)
            error = y_batch - outputs
            d_error = error * sigmoid_derivative(outputs)
            weights += np.dot(inputs.T, d_error) * learning_rate
            bias += np.sum(d_error) * learning_rate
    test_inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    return weights, bias, sigmoid(np.dot(test_inputs, weights) + bias)


@pytest.fixture(scope="module")
def seed003_runs():
    return {"seed003-xor": seed003_script([0, 1, 1, 0]), "seed003-and": seed003_script([0, 0, 0, 1])}


@pytest.mark.parametrize("name", ["seed003-xor", "seed003-and"])
@pytest.mark.parametrize("impl", ["numpy", "torch", "jax"])
def test_seed003_final_state_equals_the_scripts(seed003_runs, name, impl):
    weights, bias, outputs = seed003_runs[name]
    r = result(name, impl)
    assert_all_close([compare("W1", r.final_params["W1"], weights.T, RTOL["float64"]),
                      compare("b1", r.final_params["b1"], bias.reshape(1, 1), RTOL["float64"]),
                      compare("outputs", r.final_outputs, outputs.T, RTOL["float64"])],
                     f"{name} ({impl}) vs the seed's script")
    assert np.array_equal(np.round(r.final_outputs, 8), np.round(outputs.T, 8))


def test_seed003_initial_parameters_are_the_scripts_draws():
    np.random.seed(42)
    weights, bias = np.random.rand(2, 1), np.random.rand(1)
    case = catalogue.get("seed003-xor")
    assert np.array_equal(case.params["W1"], weights.T)
    assert np.array_equal(case.params["b1"], bias.reshape(1, 1))
    assert len(case.batch_order()) == 20_000


def test_seed003_xor_stays_near_half_and_the_fixes_learn():
    xor = result("seed003-xor", "numpy").final_outputs
    assert np.all(np.abs(xor - 0.5) < 0.01)
    assert np.round(result("seed003-and", "numpy").final_outputs).tolist() == [[0, 0, 0, 1]]
    assert np.round(result("xor-2-2-1", "numpy").final_outputs).tolist() == [[0, 1, 1, 0]]


# --- Variants on one data set -----------------------------------------------------------

def test_batch_minibatch_sgd_share_data_and_network():
    cases = [catalogue.get(n) for n in ("gd-batch", "gd-minibatch", "gd-sgd")]
    for c in cases[1:]:
        assert np.array_equal(c.X, cases[0].X) and all(
            np.array_equal(c.params[k], cases[0].params[k]) for k in c.params)
    assert [len(c.batch_order()) for c in cases] == [20, 80, 400]
    assert [len(b) for b in cases[1].batch_order()[:4]] == [6, 6, 6, 2]
    for n in ("gd-batch", "gd-minibatch", "gd-sgd"):
        r = result(n, "numpy")
        assert r.losses[-1] < r.losses[0]


def test_sum_with_lr_over_m_equals_mean():
    """Total loss with lr 0.01 and cost J with lr 0.16 = 16 x 0.01 (m = 16) take the same
    steps: E_sum = 16 E_mean at every step and the same final parameters."""
    s, m = result("reduction-sum", "numpy"), result("reduction-mean", "numpy")
    assert_all_close([compare("losses", s.losses, 16 * m.losses, RTOL["float64"])]
                     + [compare(k, s.final_params[k], m.final_params[k], RTOL["float64"])
                        for k in s.final_params], "sum vs mean")


# --- The case file format ---------------------------------------------------------------

def test_generated_case_and_toml(tmp_path):
    text = """
name = "toml-case"
layers = [2, 3, 2]
activations = ["tanh", "softmax"]
loss = "cce"
reduction = "mean"
[init]
scheme = "glorot_uniform"
seed = 1
[data]
generator = "blobs"
m = 6
seed = 1
[train]
lr = 0.1
epochs = 2
batch_size = 4
shuffle_seed = 3
"""
    p = tmp_path / "c.toml"
    p.write_text(text)
    case = load_case(p)
    assert case.X.shape == (2, 6) and case.Y.shape == (2, 6)
    assert np.allclose(case.Y.sum(axis=0), 1)
    assert len(train(case).losses) == 5


def _mazur_dict():
    return json.loads(catalogue.path("mazur-sequential").read_text())


BAD = {
    "missing layers": (lambda d: d.pop("layers"), "layers: missing required field"),
    "misspelled field": (lambda d: d.update(activation=d.pop("activations")),
                         "activation: unknown field"),
    "unknown activation": (lambda d: d.update(activations=["sigmoid", "swish"]),
                           "activations[2]: unknown value 'swish'"),
    "unknown loss": (lambda d: d.update(loss="hinge"), "loss: unknown value 'hinge'"),
    "wrong shape": (lambda d: d["params"].update(W2=[[0.4, 0.45]]),
                    "W2 has shape (1, 2), but n[2]=2, n[1]=2 requires (2, 2)"),
    "non-finite": (lambda d: d["X"].__setitem__(0, [float("nan")]), "X: contains a non-finite"),
    "bce targets": (lambda d: d.update(loss="bce", Y=[[0.5], [1.5]]),
                    "Y: loss 'bce' needs targets in [0, 1], got 1.5"),
    "softmax without cce": (lambda d: d.update(activations=["sigmoid", "softmax"]),
                            "activations[2]: softmax output requires loss 'cce'"),
    "batch size": (lambda d: d["train"].update(batch_size=3),
                   "train.batch_size: expected null (full batch) or an integer in 1..1"),
    "epochs": (lambda d: d["train"].update(epochs=-1), "train.epochs: expected a non-negative"),
    "unknown trainable": (lambda d: d["train"].update(trainable=["W1", "W3"]),
                          "train.trainable: unknown parameter 'W3'"),
    "lr": (lambda d: d["train"].update(lr=0), "train.lr: expected a positive finite number"),
    "both params and init": (lambda d: d.update(init={"scheme": "normal", "seed": 0}),
                             "params: give exactly one of"),
}


@pytest.mark.parametrize("what", BAD)
def test_bad_case_gives_one_line_error_naming_the_field(what):
    mutate, message = BAD[what]
    d = _mazur_dict()
    mutate(d)
    with pytest.raises(CaseError) as e:
        case_from_dict(d)
    assert message in str(e.value) and "\n" not in str(e.value)
