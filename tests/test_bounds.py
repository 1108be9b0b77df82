"""The a-priori rounding bounds (comparisons/judge/bounds.py) hold: every building block of every
implementation, evaluated in float32 and float64 on inputs that include large arguments,
cancellation and exact zeros, stays within (u_impl + u_oracle) gamma E of an independent
oracle: the reference's formula in float64 (for float32) or in long double (for float64).
And the elementary functions are as accurate as the bounds assume."""

import importlib
from pathlib import Path

import numpy as np
import pytest

from comparisons import catalogue, protocol
from helpers import mirrors, modules
from reference import activations as act
from comparisons.judge import bounds
from reference import network as ref_net
from comparisons.judge.bounds import C_ELEMENTARY, UNIT_ROUNDOFF, Traced

# importable here, with the per-formula modules whose building blocks are judged one by one
IMPLS = [n for n in protocol.registered()
         if not protocol.resolve(n).elsewhere and mirrors(protocol.resolve(n))]
U_LD = float(np.finfo(np.longdouble).eps) / 2
# One draw of M = 32 samples (a power of two: 1/m is exact in every precision, so the oracle's
# constants are exact): as many values as three draws of 8, at a third of the calls.
CASES = catalogue.names()
M = 32


def _inputs(seed):
    """Z with large arguments, near-cancellations and exact zeros; A in (0, 1); targets."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(0, 4, (5, M))
    Z[0, :3] = [0.0, 30.0, -30.0]
    Z[1, :2] = [1e-9, -12.0]
    A = 1 / (1 + np.exp(-rng.normal(0, 2, (5, M))))
    Yb = (rng.random((5, M)) < 0.5).astype(float)
    Yb[0, :3], Yb[1, :2] = [0, 1, 0], [0, 1]  # confident negatives (z = -30, y = 0) and wrong
    Yc = np.eye(5)[:, rng.integers(0, 5, M)]
    W, Ap, b = rng.normal(size=(5, 7)), rng.normal(size=(7, M)), rng.normal(size=(5, 1))
    return dict(Z=Z, dA=rng.normal(size=(5, M)), A=A, Yb=Yb, Yc=Yc, W=W, Ap=Ap, b=b,
                dZ=rng.normal(size=(5, M)))


def _fns():
    """(id, function of (modules, inputs) -> array or tuple)."""
    out = []
    for g in ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax"):
        out.append((g, lambda m, x, g=g: getattr(m["activations"], g)(x["Z"])))
        if g != "softmax":
            out.append((f"{g}_derivative",
                        lambda m, x, g=g: getattr(m["activations"], f"{g}_derivative")(x["Z"])))
    out.append(("softmax_backward", lambda m, x: m["activations"].softmax_backward(x["dA"], x["Z"])))
    for red in ("sum", "mean"):
        for loss, a, y in (("half_sse", "A", "Yb"), ("mse", "A", "Yb"), ("bce", "A", "Yb"),
                           ("cce", "Asm", "Yc")):
            out.append((f"{loss}-{red}", lambda m, x, f=loss, a=a, y=y, r=red:
                        getattr(m["losses"], f)(x[a], x[y], r)))
            out.append((f"{loss}_derivative-{red}", lambda m, x, f=loss, a=a, y=y, r=red:
                        getattr(m["losses"], f"{f}_derivative")(x[a], x[y], r)))
        out.append(("softplus", lambda m, x: m["losses"].softplus(x["Z"]))) if red == "sum" else None
        out.append((f"bce_from_logits-{red}",
                    lambda m, x, r=red: m["losses"].bce_from_logits(x["Z"], x["Yb"], r)))
        out.append((f"cce_from_logits-{red}",
                    lambda m, x, r=red: m["losses"].cce_from_logits(x["Z"], x["Yc"], r)))
        for loss, y in (("bce", "Yb"), ("cce", "Yc")):
            out.append((f"fused_output_delta-{loss}-{red}", lambda m, x, f=loss, y=y, r=red:
                        m["losses"].fused_output_delta(x["Z"], x[y], f, r)))
    out.append(("linear_forward", lambda m, x: m["network"].linear_forward(x["Ap"], x["W"], x["b"])))
    out.append(("linear_backward_weights",
                lambda m, x: m["network"].linear_backward_weights(x["dZ"], x["Ap"])))
    out.append(("linear_backward_input",
                lambda m, x: m["network"].linear_backward_input(x["dZ"], x["W"])))
    return out


FNS = _fns()


def _evaluate(mods, fn, inputs, dtype):
    conv = {k: mods["training"].as_array(v, dtype) for k, v in inputs.items()}
    out = fn(mods, conv)
    out = out if isinstance(out, tuple) else (out,)
    return [np.asarray(mods["training"].as_numpy(o), dtype=np.float64) for o in out]


def _covers(x, block: str) -> bool:
    """Whether the declared expected failure `x` covers the building block `block`: the
    blocks of its activation; of its loss, the blocks that make the loss value (bce's through
    softplus) where it covers the `losses` tensor, and the derivative blocks where it covers
    gradients."""
    if x.activation and block.startswith(x.activation):
        return True
    if not x.loss:
        return False
    value = (block.startswith((f"{x.loss}-", f"{x.loss}_from_logits-"))
             or (x.loss == "bce" and block == "softplus"))
    derivative = block.startswith((f"{x.loss}_derivative-", f"fused_output_delta-{x.loss}-"))
    return (value and x.covers("losses")) or (derivative and x.covers("dW1"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn", FNS, ids=[f[0] for f in FNS])
@pytest.mark.parametrize("impl", IMPLS)
def test_building_block_is_within_its_bound(impl, fn, dtype, request):
    name, f = fn
    if dtype not in protocol.resolve(impl).dtypes:
        pytest.skip(f"{impl} declares {dtype} unsupported")
    # A declared defect of this block: strict, it must fail here; not strict (it shows only at
    # some inputs), it excuses a failure, and a pass is a pass
    declared = [x for x in protocol.resolve(impl).expected_failures
                if _covers(x, name) and x.dtype in (None, dtype)]
    for x in declared:
        if x.strict:
            request.applymarker(pytest.mark.xfail(reason=x.reason, strict=True))
    mods = modules(impl)
    ref = {m: importlib.import_module(f"reference.{m}") for m in ("activations", "losses",
                                                                  "network", "training")}
    worst = 0.0
    for seed in range(1):
        x = _inputs(seed)
        x["Asm"] = act.softmax(x["Z"])
        x = {k: np.asarray(v, dtype=dtype).astype(np.float64) for k, v in x.items()}
        got = _evaluate(mods, f, x, dtype)
        if dtype == "float32":  # oracle: the reference's formula in float64
            oracle, u_oracle = _evaluate(ref, f, x, "float64"), UNIT_ROUNDOFF["float64"]
        else:  # oracle: the reference's formula in long double
            oracle, u_oracle = _long_double(ref, f, x), U_LD
        with bounds.context(dtype):
            traced = f(ref, {k: Traced(v) for k, v in x.items()})
        traced = traced if isinstance(traced, tuple) else (traced,)
        g = 1 / (1 - 16 * UNIT_ROUNDOFF[dtype])
        for a, o, t in zip(got, oracle, traced):
            E = t.bound if isinstance(t, Traced) else np.zeros(np.shape(o))
            bound = (UNIT_ROUNDOFF[dtype] + u_oracle) * g * E
            err = np.abs(a - np.asarray(o, dtype=np.longdouble)).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(err > 0, err / bound, 0.0)
            worst = max(worst, float(ratio.max()))
    excused = [x.reason for x in declared if not x.strict]
    if worst > 1.0 and excused:
        pytest.xfail(f"error/bound {worst:.3g}: {excused[0]}")
    assert worst <= 1.0, f"{impl} {name} {dtype}: error/bound {worst:.3g}"


def _long_double(ref, f, x):
    out = f(ref, {k: v.astype(np.longdouble) for k, v in x.items()})
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("g", ["sigmoid", "tanh"])
@pytest.mark.parametrize("impl", IMPLS)
def test_elementary_functions_are_as_accurate_as_assumed(impl, g, dtype):
    """Each activation, evaluated by each implementation, is within C_ELEMENTARY = 16 u of the
    exact value (long double) over [-40, 40]: the accuracy the bounds assume."""
    if dtype not in protocol.resolve(impl).dtypes:
        pytest.skip(f"{impl} declares {dtype} unsupported")
    mods = modules(impl)
    z = np.concatenate([np.linspace(-40, 40, 20001), np.geomspace(1e-8, 4, 2000),
                        -np.geomspace(1e-8, 4, 2000)]).astype(dtype).reshape(1, -1)
    got = mods["training"].as_numpy(getattr(mods["activations"], g)(
        mods["training"].as_array(z, dtype))).astype(np.longdouble)
    zl = z.astype(np.longdouble)
    exact = 1 / (1 + np.exp(-zl)) if g == "sigmoid" else np.tanh(zl)
    tiny = np.finfo(dtype).tiny
    rel = np.abs(got - exact) / np.maximum(np.abs(exact), tiny) / UNIT_ROUNDOFF[dtype]
    assert float(rel.max()) <= C_ELEMENTARY, f"{impl} {g} {dtype}: {float(rel.max()):.3g} u"


def test_exact_values_have_no_bound_and_conventions_must_agree():
    """relu'(0) of a Z that is computed exactly (all terms zero) is a convention: bound 0."""
    W, X = np.array([[0.5, -0.25]]), np.zeros((2, 3))
    with bounds.context("float64"):
        Z = ref_net.linear_forward(Traced(X), W, np.zeros((1, 1)))
        d = act.relu_derivative(Z)
    assert np.array_equal(d.v, np.zeros((1, 3))) and np.array_equal(d.bound, np.zeros((1, 3)))


def test_a_kink_within_rounding_may_flip_and_is_logged():
    """Z = fl(1/3) * 3 - 1 computes to 0, but the exact product is 1 - 2^-54: within the
    rounding of the product, so relu'(Z) may be 0 or 1 in another correct implementation."""
    with bounds.context("float64"):
        ctx = bounds._CONTEXT.get()
        ctx.reset()
        Z = Traced(np.array([[1 / 3]])) * 3.0 - 1.0
        d = act.relu_derivative(Z)
        margin = ctx.reset()
    assert Z.v[0, 0] == 0.0 and d.v[0, 0] == 0.0
    assert d.bound[0, 0] * UNIT_ROUNDOFF["float64"] >= 1.0 and margin <= 1.0


def test_a_clear_decision_does_not_flip():
    with bounds.context("float64"):
        d = act.relu_derivative(Traced(np.array([[0.5, -0.5]])) * 1.0)
    assert np.array_equal(d.bound, np.zeros((1, 2)))


def test_an_operation_without_a_rule_is_refused():
    with pytest.raises(TypeError, match="no rounding rule"):
        np.cbrt(Traced(np.ones((2, 2))))
    with pytest.raises(TypeError, match="without a rule"):
        np.asarray(Traced(np.ones((2, 2))))


def test_the_dot_product_bound_is_gamma_n_of_the_terms():
    """Z = W A + b: |fl(Z) - Z| <= u (n |W| |A| + |Z|) (Higham's gamma_n for the product,
    then one rounding of the bias add, here of an exact 0)."""
    W, A, b = np.array([[1.0, -1.0, 2.0]]), np.array([[3.0], [3.0], [0.5]]), np.array([[-1.0]])
    Z = ref_net.linear_forward(Traced(A), W, b)
    assert Z.v[0, 0] == 0.0 and Z.bound[0, 0] == 3 * (3 + 3 + 1) + 0


def test_float32_reference_runs_are_within_their_bound_of_float64():
    """A whole training run: the reference in float32 against the float64 reference on the
    float32-rounded inputs, within the judge's bounds (the judge's own float32 rule)."""
    import reference
    from comparisons import catalogue
    from comparisons.judge import make_oracle
    from comparisons.judge.parity import compare_results
    for name in ("deep-relu", "multiclass-softmax", "gd-sgd"):
        case = catalogue.get(name).replace(dtype="float32")
        oracle = make_oracle(case)
        rows = compare_results(reference.train(case), oracle.base, oracle.amp, "float32",
                               "float64", case)
        assert all(r.ok or r.skipped for r in rows), [r.line() for r in rows if not r.ok]


def test_a_product_of_two_uncertain_zeros_is_not_exact():
    """Found by the seeded nightly campaign (one update judged from autograd's own
    parameters): dZ1 = dA1 * sigma'(Z1) with both factors exactly 0 in the reference (sigmoids
    saturated in float64) but with bounds of 39 and 18u; the first-order rule gave 0 (exact),
    and autograd's 5.4e-56 failed at an infinite ratio. The second-order term u e_x e_y keeps
    the product's bound."""
    from comparisons.judge import bounds
    with bounds.context("float64"):
        x = Traced(np.array([0.0]), np.array([3.5e17]))
        y = Traced(np.array([0.0]), np.array([18.0]))
        p = x * y
    u = UNIT_ROUNDOFF["float64"]
    assert p.v[0] == 0.0 and u * p.bound[0] >= 5.4e-56
    assert p.bound[0] == pytest.approx(u * 3.5e17 * 18.0)


@pytest.mark.nightly("the draw through every implementation, 24 s; CI checks its cause, the "
                     "product's second-order term (the test above)")
def test_the_nightly_draw_with_a_product_of_uncertain_zeros_passes():
    """The draw itself (tests/cases/second-order-product.json), every update judged: each
    implementation that runs here agrees with the reference."""
    from comparisons.execution import runner
    from reference import load_case
    case = load_case(Path(__file__).parent / "cases" / "second-order-product.json")
    names = [n for n in IMPLS if n != "reference" and not protocol.resolve(n).unsupported(case)]
    impls, _ = runner.select(names)
    session = runner.run([case], impls)
    bad = [v for v in session.verdicts if v.failing]
    assert session.verdicts and not bad, [(v.pair, v.message) for v in bad]


@pytest.mark.parametrize("name", ["gd-minibatch", "gd-sgd", "deep-relu-float32",
                                  "cover-cce-sequential", "relu-kink"])
def test_stacked_tracing_gives_the_bounds_of_tracing_one_update_at_a_time(name, monkeypatch):
    """bounds.train traces the updates of a chunk at once along a leading axis. Traced one at
    a time (a chunk of one), every bound, margin and perturbed value is the same: the same
    formulas on the same values, only the loop over updates moved into NumPy. The two may
    differ only in a matrix product's summation order, a relative 1e-12 at most here (n <= 32
    terms: gamma_n < 4e-15 on each bound)."""
    from comparisons.judge import oracle_case
    from comparisons.judge.parity import rounding_perturbation
    case = catalogue.get(name)
    oc = oracle_case(case)

    def traced():
        with np.errstate(all="ignore"), bounds.context(case.dtype):
            return bounds.train(oc, perturb=rounding_perturbation(2.0 ** -36))

    stacked = traced()
    monkeypatch.setattr(bounds, "TRACE_BYTES", 1)
    assert bounds._chunk_size(oc) == 1
    single = traced()
    A, B = stacked.bounds, single.bounds
    assert A["horizon"] == B["horizon"]
    for key in ("losses", "margins", "final_outputs", "initial_outputs"):
        np.testing.assert_allclose(A[key], B[key], rtol=1e-12, err_msg=key)
    for key in ("gradients", "final_params"):
        for k in A[key]:
            np.testing.assert_allclose(A[key][k], B[key][k], rtol=1e-12, err_msg=f"{key} {k}")
    np.testing.assert_allclose(stacked.losses, single.losses, rtol=1e-12)
    for k in stacked.final_params:
        np.testing.assert_allclose(stacked.final_params[k], single.final_params[k], rtol=1e-12)


def test_traced_run_equals_the_reference_bit_for_bit():
    """bounds.train runs the reference's own steps on traced arrays: its values are
    the reference's, bit for bit, on every catalogue case of at most 3,000 updates and on
    the worked example (the longer ones repeat the same loop)."""
    import reference
    for name in [n for n in CASES if catalogue.get(n).updates <= 3000] + ["mazur-sequential"]:
        case = catalogue.get(name)
        a, b = reference.train(case), bounds.train(case)
        assert np.array_equal(a.losses, b.losses), name
        for k in a.gradients:
            assert np.array_equal(a.gradients[k], b.gradients[k]), (name, k)
            assert np.array_equal(a.final_params[k], b.final_params[k]), (name, k)
        assert np.array_equal(a.final_outputs, b.final_outputs), name
