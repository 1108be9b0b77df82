"""The reference against the seeds: the worked example's printed intermediates (seed 001,
Mazur 2015), seed 004's shape table, overflow safety, input validation, training mechanics."""

import warnings

import numpy as np
import pytest

from helpers import mazur, printed
from reference import Case, CaseError, batch_order, train
from reference import activations as act
from reference import losses, network
from reference.training import cast, sequential_step, simultaneous_step


# --- The worked example ------------------------------------------------------------------

def _worked_example():
    case = mazur("sequential")
    X, Y, p = cast(case)
    value, grads = network.backward_propagation(X, Y, p, case.activations, case.loss, case.reduction)
    AL, caches = network.forward_propagation(X, p, case.activations)
    return case, caches, value, grads


# Figures printed in Mazur (2015), which seed 001 follows (quantity, value getter, published).
WORKED = [
    ("net_h1", lambda c, g: c[0]["Z"][0, 0], "0.3775"),
    ("out_h1", lambda c, g: c[0]["A"][0, 0], "0.593269992"),
    ("out_h2", lambda c, g: c[0]["A"][1, 0], "0.596884378"),
    ("net_o1", lambda c, g: c[1]["Z"][0, 0], "1.105905967"),
    ("out_o1", lambda c, g: c[1]["A"][0, 0], "0.75136507"),
    ("out_o2", lambda c, g: c[1]["A"][1, 0], "0.772928465"),
    ("dE/dout_o1", lambda c, g: c[1]["A"][0, 0] - 0.01, "0.74136507"),
    ("dout_o1/dnet_o1", lambda c, g: c[1]["A"][0, 0] * (1 - c[1]["A"][0, 0]), "0.186815602"),
    ("dE/dw5", lambda c, g: g["dW2"][0, 0], "0.082167041"),
    ("dE/dout_h1", lambda c, g: g["dA1"][0, 0], "0.036350306"),
    ("dE/dw1", lambda c, g: g["dW1"][0, 0], "0.000438568"),
]


@pytest.mark.parametrize("quantity,get,published", WORKED, ids=[w[0] for w in WORKED])
def test_worked_example_intermediates_at_printed_precision(quantity, get, published):
    _, caches, _, grads = _worked_example()
    assert printed(get(caches, grads), published), f"{quantity}: {get(caches, grads)!r}"


def test_worked_example_loss_before_training():
    _, caches, value, _ = _worked_example()
    assert printed(value, "0.298371109")
    E_o1 = losses.half_sse(caches[1]["A"][:1], np.array([[0.01]]), "sum")
    assert printed(E_o1, "0.274811083")


# The published updated weights: w5+..w8+ (output layer, the same for both schedules) and
# w1+..w4+ as worked by hand in the post, with the *old* w5..w8 (the simultaneous rule).
@pytest.mark.parametrize("schedule,name,index,published", [
    ("simultaneous", "W2", (0, 0), "0.35891648"), ("simultaneous", "W2", (0, 1), "0.408666186"),
    ("simultaneous", "W2", (1, 0), "0.511301270"), ("simultaneous", "W2", (1, 1), "0.561370121"),
    ("sequential", "W2", (0, 0), "0.35891648"),
    ("simultaneous", "W1", (0, 0), "0.149780716"), ("simultaneous", "W1", (0, 1), "0.19956143"),
    ("simultaneous", "W1", (1, 0), "0.24975114"), ("simultaneous", "W1", (1, 1), "0.29950229"),
])
def test_worked_example_first_update(schedule, name, index, published):
    case = mazur(schedule)
    X, Y, p = cast(case)
    step = simultaneous_step if schedule == "simultaneous" else sequential_step
    _, new = step(p, X, Y, case.activations, case.loss, case.reduction, case.lr, case.trainable_names)
    assert printed(new[name][index], published), new[name][index]
    assert np.array_equal(new["b1"], p["b1"]) and np.array_equal(new["b2"], p["b2"])


def test_sequential_first_layer_update_differs_from_the_hand_worked_one():
    """The sequential rule moves w1 with the updated w5..w8, so it misses the post's w1+."""
    case = mazur("sequential")
    X, Y, p = cast(case)
    _, new = sequential_step(p, X, Y, case.activations, case.loss, case.reduction, case.lr,
                             case.trainable_names)
    assert not printed(new["W1"][0, 0], "0.149780716")


@pytest.mark.parametrize("schedule,after_one", [("sequential", "0.291027924"),
                                                ("simultaneous", "0.291027774")])
def test_worked_example_trajectory(schedule, after_one):
    r = train(mazur(schedule))
    assert len(r.losses) == 10_001
    assert printed(r.losses[0], "0.298371109")
    assert printed(r.losses[1], after_one)
    if schedule == "sequential":
        assert printed(r.losses[-1], "0.000035085")
        assert printed(r.final_outputs[0, 0], "0.015912196")
        assert printed(r.final_outputs[1, 0], "0.984065734")
    else:
        assert not printed(r.losses[-1], "0.000035085")


def test_gradient_at_initial_parameters_is_the_same_for_both_schedules():
    a, b = train(mazur("sequential", epochs=1)), train(mazur("simultaneous", epochs=1))
    for k in a.gradients:
        assert np.array_equal(a.gradients[k], b.gradients[k])


# --- Seed 004's shape table --------------------------------------------------------------

def test_seed_004_shape_table():
    """n[0]=3, n[1]=4, n[2]=1: W1 (4,3), Z1 A1 (4,m), W2 (1,4), Z2 A2 (1,m); dX has X's shape."""
    m = 7
    rng = np.random.default_rng(0)
    p = {"W1": rng.normal(size=(4, 3)), "b1": np.zeros((4, 1)),
         "W2": rng.normal(size=(1, 4)), "b2": np.zeros((1, 1))}
    X, Y = rng.normal(size=(3, m)), rng.integers(0, 2, (1, m)).astype(float)
    AL, caches = network.forward_propagation(X, p, ["tanh", "sigmoid"])
    assert [(c["Z"].shape, c["A"].shape) for c in caches] == [((4, m), (4, m)), ((1, m), (1, m))]
    _, g = network.backward_propagation(X, Y, p, ["tanh", "sigmoid"], "bce", "mean")
    expected = {"dW1": (4, 3), "db1": (4, 1), "dZ1": (4, m), "dA1": (4, m),
                "dW2": (1, 4), "db2": (1, 1), "dZ2": (1, m), "dA0": (3, m)}
    assert {k: g[k].shape for k in expected} == expected


# --- Overflow safety ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype,big", [("float64", 1000.0), ("float32", 100.0)])
def test_no_overflow_warning_or_nan_at_extreme_pre_activations(dtype, big):
    Z = np.array([[-big, -1.0, 0.0, 1.0, big], [big, 0.5, -0.5, 0.0, -big]], dtype=dtype)
    Y01 = np.array([[0, 1, 0, 1, 1], [1, 0, 1, 0, 0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outs = [getattr(act, n)(Z) for n in ("sigmoid", "tanh", "relu", "leaky_relu",
                                             "identity", "softmax")]
        outs += [getattr(act, f"{n}_derivative")(Z) for n in ("sigmoid", "tanh", "relu",
                                                              "leaky_relu", "identity")]
        outs.append(act.softmax_backward(np.ones_like(Z), Z))
        outs.append(losses.bce_from_logits(Z, Y01, "mean"))
        outs.append(losses.cce_from_logits(Z, Y01, "sum"))
    for o in outs:
        assert np.all(np.isfinite(o)) and np.asarray(o).dtype == np.dtype(dtype)
    assert 0.0 <= act.sigmoid(Z)[0, 0] < 1e-40 and act.sigmoid(Z)[0, 4] == 1.0
    assert float(losses.bce_from_logits(Z[:1, :1], Y01[:1, 1:2], "sum")) == pytest.approx(big)


def test_relu_derivative_at_zero_is_zero():
    z = np.zeros((1, 1))
    assert act.relu_derivative(z)[0, 0] == 0.0
    assert act.leaky_relu_derivative(z)[0, 0] == act.LEAKY_RELU_SLOPE


# --- Validation and precision -------------------------------------------------------------

def test_wrong_parameter_shape_names_parameter_shape_and_rule():
    p = {"W1": np.zeros((4, 3)), "b1": np.zeros((4, 1)), "W2": np.zeros((1, 3)), "b2": np.zeros((1, 1))}
    with pytest.raises(CaseError) as e:
        Case(name="x", layers=[3, 4, 1], activations=["tanh", "sigmoid"], loss="bce",
             reduction="mean", params=p, X=np.zeros((3, 5)), Y=np.zeros((1, 5)), lr=0.1, epochs=1)
    assert str(e.value) == "W2 has shape (1, 3), but n[2]=1, n[1]=4 requires (1, 4)"


def test_mixed_precision_is_refused():
    case = mazur()
    X, Y, p = cast(case)
    p["W1"] = p["W1"].astype(np.float32)
    with pytest.raises(TypeError, match="W1 has dtype float32, but X has dtype float64"):
        network.forward_propagation(X, p, case.activations)


def test_float32_case_computes_in_float32():
    r = train(mazur(dtype="float32", epochs=3))
    assert r.losses.dtype == np.float32 and r.final_outputs.dtype == np.float32
    assert all(v.dtype == np.float32 for v in [*r.gradients.values(), *r.final_params.values()])


# --- Training mechanics ------------------------------------------------------------------

def test_batch_order_without_seed_keeps_data_order_and_last_batch_is_short():
    b = batch_order(5, 2, 2, None)
    assert [x.tolist() for x in b] == [[0, 1], [2, 3], [4], [0, 1], [2, 3], [4]]


def test_batch_order_with_seed_is_a_reproducible_permutation_per_epoch():
    a, b = batch_order(6, 4, 3, 11), batch_order(6, 4, 3, 11)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for e in range(3):
        assert sorted(np.concatenate(a[2 * e:2 * e + 2]).tolist()) == list(range(6))
    assert any(not np.array_equal(np.concatenate(a[0:2]), np.arange(6)) for _ in [0])


def _tiny(schedule, trainable=None, batch_size=None):
    rng = np.random.default_rng(3)
    p = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=(3, 1)),
         "W2": rng.normal(size=(1, 3)), "b2": rng.normal(size=(1, 1))}
    return Case(name="tiny", layers=[2, 3, 1], activations=["tanh", "sigmoid"], loss="bce",
                reduction="mean", params=p, X=rng.normal(size=(2, 5)),
                Y=rng.integers(0, 2, (1, 5)).astype(float), lr=0.3, epochs=4,
                batch_size=batch_size, schedule=schedule, trainable=trainable)


@pytest.mark.parametrize("batch_size,updates", [(None, 4), (2, 12), (1, 20)],
                         ids=["batch", "mini-batch", "sgd"])
def test_trajectory_has_one_loss_per_update_plus_final(batch_size, updates):
    r = train(_tiny("simultaneous", batch_size=batch_size))
    assert r.losses.shape == (updates + 1,)


def test_frozen_parameters_do_not_move():
    case = _tiny("sequential", trainable=["W1", "b2"])
    r = train(case)
    assert np.array_equal(r.final_params["b1"], case.params["b1"])
    assert np.array_equal(r.final_params["W2"], case.params["W2"])
    assert not np.array_equal(r.final_params["W1"], case.params["W1"])


def test_single_layer_network_schedules_coincide():
    rng = np.random.default_rng(5)
    kw = dict(name="logreg", layers=[3, 1], activations=["sigmoid"], loss="bce", reduction="mean",
              params={"W1": rng.normal(size=(1, 3)), "b1": np.zeros((1, 1))},
              X=rng.normal(size=(3, 8)), Y=rng.integers(0, 2, (1, 8)).astype(float), lr=0.5,
              epochs=20)
    a, b = train(Case(schedule="sequential", **kw)), train(Case(schedule="simultaneous", **kw))
    assert np.array_equal(a.losses, b.losses)
