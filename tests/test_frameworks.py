"""torch_impl and jax_impl against the reference: one shape, the same numbers."""

import inspect

import numpy as np
import pytest
import torch

import jax_impl
import reference
import torch_impl
from comparisons.parity import RTOL, assert_all_close, compare
from helpers import IMPLS, PAIRS, assert_parity, kappa_of, mazur, printed, result
from reference import activations as ref_act
from reference import losses as ref_losses
from reference import network as ref_net

MIRRORED = ["activations", "losses", "network", "training"]


def public_functions(module):
    return [n for n, f in inspect.getmembers(module, inspect.isfunction)
            if f.__module__ == module.__name__ and not n.startswith("_")]


def in_source_order(module):
    src = inspect.getsource(module)
    return sorted(public_functions(module), key=lambda n: src.index(f"def {n}("))


@pytest.mark.parametrize("module", MIRRORED)
def test_three_implementations_one_shape(module):
    """Same public functions, in the same order, in every mirrored module (the vjp helper of
    the autodiff packages is their only extra)."""
    import importlib
    orders = {pkg: [n for n in in_source_order(importlib.import_module(f"{pkg}.{module}"))
                    if n != "vjp"]
              for pkg in ("reference", "torch_impl", "jax_impl")}
    assert orders["torch_impl"] == orders["reference"]
    assert orders["jax_impl"] == orders["reference"]


def test_jax_float64_is_really_float64():
    import jax
    import jax.numpy as jnp
    assert jax.config.jax_enable_x64
    assert jnp.asarray(np.float64(0.1)).dtype == jnp.float64
    assert result("mazur-sequential", "jax").losses.dtype == np.float64


@pytest.mark.parametrize("impl", ["torch", "jax"])
def test_float32_stays_float32(impl):
    r = IMPLS[impl].train(mazur(dtype="float32", epochs=2))
    assert {v.dtype for v in [r.losses, r.final_outputs, *r.gradients.values(),
                              *r.final_params.values()]} == {np.dtype(np.float32)}


# --- Building blocks: each autodiff derivative against the hand-written one. ------------

Z = np.random.default_rng(1).normal(0, 3, (4, 6))
DA = np.random.default_rng(2).normal(0, 1, (4, 6))
FRAMEWORKS = {
    "torch": (torch_impl, lambda a: torch.tensor(a), lambda t: t.detach().numpy()),
    "jax": (jax_impl, lambda a: __import__("jax.numpy").numpy.asarray(a), np.asarray),
}


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_activation_derivatives_agree(fw, name):
    pkg, to, back = FRAMEWORKS[fw]
    act = __import__(f"{pkg.__name__}.activations", fromlist=["x"])
    for fn in (name, f"{name}_derivative"):
        r = compare(fn, back(getattr(act, fn)(to(Z))), getattr(ref_act, fn)(Z), RTOL["float64"])
        assert r.ok, r.line()


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_activation_derivatives_at_zero_agree(fw):
    pkg, to, back = FRAMEWORKS[fw]
    act = __import__(f"{pkg.__name__}.activations", fromlist=["x"])
    zero = np.zeros((1, 1))
    assert back(act.relu_derivative(to(zero)))[0, 0] == 0.0
    assert back(act.leaky_relu_derivative(to(zero)))[0, 0] == 0.01


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_softmax_backward_agrees(fw):
    pkg, to, back = FRAMEWORKS[fw]
    act = __import__(f"{pkg.__name__}.activations", fromlist=["x"])
    r = compare("softmax_backward", back(act.softmax_backward(to(DA), to(Z))),
                ref_act.softmax_backward(DA, Z), RTOL["float64"])
    assert r.ok, r.line()


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("loss", ["half_sse", "mse", "bce", "cce"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_loss_derivatives_agree(fw, loss, reduction):
    pkg, to, back = FRAMEWORKS[fw]
    mod = __import__(f"{pkg.__name__}.losses", fromlist=["x"])
    A = ref_act.softmax(Z) if loss == "cce" else ref_act.sigmoid(Z)
    Y = np.eye(4)[:, [0, 1, 2, 3, 0, 1]] if loss == "cce" else (Z > 0).astype(float)
    rows = [compare(loss, back(getattr(mod, loss)(to(A), to(Y), reduction)),
                    getattr(ref_losses, loss)(A, Y, reduction), RTOL["float64"]),
            compare(f"{loss}_derivative",
                    back(getattr(mod, f"{loss}_derivative")(to(A), to(Y), reduction)),
                    getattr(ref_losses, f"{loss}_derivative")(A, Y, reduction), RTOL["float64"])]
    if loss in ("bce", "cce"):
        rows.append(compare("fused_output_delta",
                            back(mod.fused_output_delta(to(Z), to(Y), loss, reduction)),
                            ref_losses.fused_output_delta(Z, Y, loss, reduction), RTOL["float64"]))
    assert_all_close(rows, f"{fw} {loss} {reduction}")


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_linear_backward_agrees(fw):
    pkg, to, back = FRAMEWORKS[fw]
    net = __import__(f"{pkg.__name__}.network", fromlist=["x"])
    rng = np.random.default_rng(9)
    A_prev, W, dZ = rng.normal(size=(3, 6)), rng.normal(size=(4, 3)), rng.normal(size=(4, 6))
    got = net.linear_backward(to(dZ), to(A_prev), to(W))
    want = ref_net.linear_backward(dZ, A_prev, W)
    assert_all_close([compare(n, back(g), w, RTOL["float64"])
                      for n, g, w in zip(("dA_prev", "dW", "db"), got, want)], fw)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_backward_propagation_intermediates_agree(fw):
    """dZ and dA of every layer, not only dW and db (the walkthrough shows them)."""
    pkg, to, back = FRAMEWORKS[fw]
    net = __import__(f"{pkg.__name__}.network", fromlist=["x"])
    case = mazur()
    X, Y, p = reference.training.cast(case)
    _, want = ref_net.backward_propagation(X, Y, p, case.activations, case.loss, case.reduction)
    _, got = net.backward_propagation(to(X), to(Y), {k: to(v) for k, v in p.items()},
                                      case.activations, case.loss, case.reduction)
    assert_all_close([compare(k, back(got[k]), want[k], RTOL["float64"]) for k in want], fw)


# --- Whole runs -------------------------------------------------------------------------

@pytest.mark.parametrize("impl", ["torch", "jax"])
@pytest.mark.parametrize("schedule,after_one", [("sequential", "0.291027924"),
                                                ("simultaneous", "0.291027774")])
def test_published_trajectory_in_each_framework(impl, schedule, after_one):
    r = result(f"mazur-{schedule}", impl)
    assert len(r.losses) == 10_001
    assert printed(r.losses[0], "0.298371109") and printed(r.losses[1], after_one)


@pytest.mark.parametrize("a,b", PAIRS, ids=[f"{a}-vs-{b}" for a, b in PAIRS])
@pytest.mark.parametrize("name", ["mazur-sequential", "mazur-simultaneous", "deep-relu",
                                  "deep-relu-sequential"])
def test_framework_runs_agree(name, a, b):
    assert_parity(result(name, a), result(name, b), "float64", f"{name}: {a} vs {b}",
                  kappa=kappa_of(name))
