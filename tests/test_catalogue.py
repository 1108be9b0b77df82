"""The case catalogue and the case file format."""

import json

import numpy as np
import pytest

from comparisons import catalogue
from comparisons.judge.parity import compare, compare_results, gamma
from helpers import catalogue_oracle, main_job
from reference import CaseError, TrainResult, case_from_dict, load_case, train

U64 = 2.0 ** -53


def _result(name):
    """The reference's run of a catalogue case, as the main job computed it."""
    return main_job().result(name, "reference")

REQUIRED = ["mazur-sequential", "mazur-simultaneous", "shallow-3-4-1", "deep-relu",
            "multiclass-softmax", "seed003-xor", "seed003-and", "xor-2-2-1", "gd-batch",
            "gd-minibatch", "gd-sgd", "reduction-sum", "reduction-mean"]


def test_catalogue_has_one_case_per_seed_example():
    assert set(REQUIRED) <= set(catalogue.names())


def test_catalogue_covers_every_feature():
    """Every activation as a hidden and (where valid) as an output activation, every loss x
    reduction, both schedules with each loss family, full batch, mini-batches with a short
    last batch and SGD, frozen parameters, float64 and float32."""
    covered = catalogue.coverage()
    assert not [f for f in catalogue.required() if f not in covered]


def test_documented_coverage_table_is_the_catalogues():
    from comparisons.report import figures
    from helpers import ROOT
    text = (ROOT / "docs" / "CASES.md").read_text()
    block = dict(figures.MARK.findall(text)).get("coverage")
    assert block is not None and block.strip() == catalogue.coverage_table(), (
        "run `python -m comparisons figures --update docs/CASES.md`")


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


@pytest.mark.main_job
@pytest.mark.parametrize("name", ["seed003-xor", "seed003-and"])
@pytest.mark.parametrize("impl", ["reference", "torch", "jax"])
def test_seed003_final_state_equals_the_scripts(seed003_runs, name, impl):
    """The seed's script is one more float64 implementation of the same run: its final state
    agrees with each implementation's within the judge's bound."""
    weights, bias, outputs = seed003_runs[name]
    r = main_job().result(name, impl)
    oracle = catalogue_oracle(name)
    script = TrainResult(losses=r.losses, gradients=r.gradients,
                         final_params={"W1": weights.T, "b1": bias.reshape(1, 1)},
                         final_outputs=outputs.T, initial_outputs=r.initial_outputs)
    rows = compare_results(script, r, oracle.amp, "float64", "float64", oracle.case)
    assert all(row.ok for row in rows), [row.line() for row in rows if not row.ok]
    assert np.array_equal(np.round(r.final_outputs, 8), np.round(outputs.T, 8))


def test_seed003_initial_parameters_are_the_scripts_draws():
    np.random.seed(42)
    weights, bias = np.random.rand(2, 1), np.random.rand(1)
    case = catalogue.get("seed003-xor")
    assert np.array_equal(case.params["W1"], weights.T)
    assert np.array_equal(case.params["b1"], bias.reshape(1, 1))
    assert len(case.batch_order()) == 20_000


@pytest.mark.main_job
def test_seed003_xor_stays_near_half_and_the_fixes_learn():
    xor = _result("seed003-xor").final_outputs
    assert np.all(np.abs(xor - 0.5) < 0.01)
    assert np.round(_result("seed003-and").final_outputs).tolist() == [[0, 0, 0, 1]]
    assert np.round(_result("xor-2-2-1").final_outputs).tolist() == [[0, 1, 1, 0]]


# --- Variants on one data set -----------------------------------------------------------

@pytest.mark.main_job
def test_batch_minibatch_sgd_share_data_and_network():
    cases = [catalogue.get(n) for n in ("gd-batch", "gd-minibatch", "gd-sgd")]
    for c in cases[1:]:
        assert np.array_equal(c.X, cases[0].X) and all(
            np.array_equal(c.params[k], cases[0].params[k]) for k in c.params)
    assert [len(c.batch_order()) for c in cases] == [20, 80, 400]
    assert [len(b) for b in cases[1].batch_order()[:4]] == [6, 6, 6, 2]
    for n in ("gd-batch", "gd-minibatch", "gd-sgd"):
        r = _result(n)
        assert r.losses[-1] < r.losses[0]


def test_sum_with_lr_over_m_equals_mean():
    """Total loss with lr 0.01 and cost J with lr 0.16 = 16 x 0.01 (m = 16) take the same
    steps in exact arithmetic: E_sum = 16 E_mean at every step and the same final
    parameters, within the sum of the two runs' own bounds."""
    runs = {n: catalogue_oracle(n) for n in ("reduction-sum", "reduction-mean")}
    s, m = runs["reduction-sum"], runs["reduction-mean"]

    def bound(o, key, k=None, scale=1.0):
        e = o.amp.bounds[key] if k is None else o.amp.bounds[key][k]
        return U64 * gamma(o.case, U64) * (1 + o.kappa) * scale * np.asarray(e)
    rows = [compare("losses", s.base.losses, 16 * m.base.losses,
                    bound(s, "losses") + bound(m, "losses", scale=16))]
    rows += [compare(k, s.base.final_params[k], m.base.final_params[k],
                     bound(s, "final_params", k) + bound(m, "final_params", k))
             for k in s.base.final_params]
    assert all(r.ok for r in rows), [r.line() for r in rows if not r.ok]


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
                           "activations[1] (layer 2): unknown value 'swish'"),
    "unknown loss": (lambda d: d.update(loss="hinge"), "loss: unknown value 'hinge'"),
    "wrong shape": (lambda d: d["params"].update(W2=[[0.4, 0.45]]),
                    "W2 has shape (1, 2), but n[2]=2, n[1]=2 requires (2, 2)"),
    "X with a sample too many": (lambda d: d.update(X=[[0.05, 0.05], [0.10, 0.10]]),
                                 "X, Y: X has 2 samples (shape (2, 2)) and Y has 1 (shape (2, 1))"),
    "X with too few rows": (lambda d: d.update(X=[[0.05]]),
                            "X has shape (1, 1), but n[0]=2 requires (2, m)"),
    "Y with too many rows": (lambda d: d.update(Y=[[0.01], [0.99], [0.5]]),
                             "Y has shape (3, 1), but n[2]=2, m=1 requires (2, 1)"),
    "non-finite": (lambda d: d["X"].__setitem__(0, [float("nan")]), "X[0][0]: nan is not finite"),
    "bce targets": (lambda d: d.update(loss="bce", Y=[[0.5], [1.5]]),
                    "Y: loss 'bce' needs targets in [0, 1], got 1.5"),
    "softmax without cce": (lambda d: d.update(activations=["sigmoid", "softmax"]),
                            "activations[1] (layer 2): softmax output requires loss 'cce'"),
    "batch size": (lambda d: d["train"].update(batch_size=3),
                   "train.batch_size: expected null (full batch) or an integer in 1..1"),
    "epochs": (lambda d: d["train"].update(epochs=-1), "train.epochs: expected a non-negative"),
    "unknown trainable": (lambda d: d["train"].update(trainable=["W1", "W3"]),
                          "train.trainable[1]: unknown parameter 'W3'"),
    "batches beside batch_size": (
        lambda d: d["train"].update(batches=[[0]]),
        "train.batches: an explicit batch order replaces train.batch_size; give one or the other"),
    "batch index out of range": (
        lambda d: d["train"].update(batches=[[0], [1]]) or [d["train"].pop(k) for k in
                                                           ("batch_size", "epochs", "shuffle_seed")],
        "train.batches[1]: expected a non-empty list of sample indices in 0..0"),
    "name with a path": (lambda d: d.update(name="../x"), "name: expected 1-100 letters"),
    "nested list in X": (lambda d: d.update(X=[[[0.05]], [0.10]]), "X[0][0]: [0.05] is not a number"),
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
