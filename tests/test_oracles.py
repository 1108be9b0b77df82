"""Independent oracles of the reference: central finite differences, 40-digit arithmetic
(mpmath), torch's gradcheck and JAX's check_grads."""

import numpy as np
import pytest

import reference
from comparisons import catalogue
from comparisons.judge.mp_oracle import MPNetwork
from comparisons.judge.parity import amplification, compare, gamma
from helpers import assert_fd_close, fd_indices, numerical_gradient
from reference import network as ref_net
from reference.training import cast, initial_gradients

CASES = catalogue.names()
SMALL = ["mazur-sequential", "mazur-simultaneous", "seed003-xor", "seed003-and", "xor-2-2-1",
         "shallow-3-4-1"]
U64 = 2.0 ** -53


FD_CASES = [n for n in CASES if catalogue.get(n).dtype == "float64" and n != "relu-kink"]


@pytest.mark.parametrize("name", FD_CASES)
def test_finite_differences_on_step0_gradient(name):
    """Central differences (float64) on every case but relu-kink, whose relu inputs are
    exactly 0: a difference across the kink averages its sides; the convention relu'(0) = 0
    is checked there by the judge and by test_derivative_conventions_at_the_kink."""
    case = catalogue.get(name)
    first = case.batch_order()[0]
    X, Y, p = cast(case)
    X, Y = X[:, first], Y[:, first]
    g = initial_gradients(p, X, Y, case.activations, case.loss, case.reduction)

    for k in p:
        def f(v, k=k):
            AL, caches = ref_net.forward_propagation(X, dict(p, **{k: v}), case.activations)
            return ref_net.compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction)
        at = fd_indices(g[k])
        num = numerical_gradient(f, p[k], at=at)
        rows = tuple(np.array(ix) for ix in zip(*at))
        assert_fd_close(g[k][rows], num[rows], f"{name} d{k} ({len(at)} of {g[k].size})")


@pytest.mark.parametrize("name", SMALL)
def test_reference_is_within_its_own_bound_of_40_digits(name):
    """The float64 reference against 40-digit arithmetic: every step-0 gradient within one
    implementation's bound u gamma E, the first 50 losses within u gamma (1 + kappa) U."""
    case = catalogue.get(name).replace(batches=catalogue.get(name).batch_order()[:50],
                                       epochs=None)
    base = reference.train(case)
    amp = amplification(case, base)
    net = MPNetwork(case)
    g_mp = net.gradients(case.batch_order()[0])
    g = gamma(case, U64)
    rows = [compare(f"d{k}", base.gradients[k], np.array([[float(x) for x in r] for r in v]),
                    U64 * g * amp.bounds["gradients"][k]) for k, v in g_mp.items()]
    losses, _, _ = net.train()
    rows.append(compare("losses", base.losses, np.array([float(x) for x in losses]),
                        U64 * g * (1 + amp.kappa) * amp.bounds["losses"]))
    bad = [r.line() for r in rows if not r.ok]
    assert not bad, bad


@pytest.mark.parametrize("name", ["mazur-sequential", "shallow-3-4-1", "deep-relu",
                                  "multiclass-softmax", "reduction-mean"])
def test_torch_gradcheck(name):
    """torch.autograd.gradcheck: autograd's Jacobian of the loss against its own finite
    differences, for every parameter at once (float64)."""
    import torch

    import torch_impl.network as tn
    import torch_impl.training as tt
    case = catalogue.get(name)
    X, Y, p = tt.cast(case)
    names = list(p)

    def loss(*ps):
        AL, caches = tn.forward_propagation(X, dict(zip(names, ps)), case.activations)
        return tn.compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction)

    inputs = tuple(v.clone().requires_grad_(True) for v in p.values())
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("name", ["mazur-sequential", "shallow-3-4-1", "multiclass-softmax",
                                  "reduction-mean"])
def test_jax_check_grads(name):
    """jax.test_util.check_grads: forward and reverse mode against finite differences (to
    second order on the worked example; first order elsewhere, where order 2 costs seconds
    of compilation per case)."""
    import jax
    from jax.test_util import check_grads

    import jax_impl.network as jn
    import jax_impl.training as jt
    case = catalogue.get(name)
    X, Y, p = jt.cast(case)

    def loss(params):
        AL, caches = jn.forward_propagation(X, params, case.activations)
        return jn.compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction)

    order = 2 if name == "mazur-sequential" else 1
    check_grads(jax.jit(loss), (p,), order=order, modes=("fwd", "rev"), eps=1e-4)
