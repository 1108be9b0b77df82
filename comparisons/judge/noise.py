"""The linear response of one evaluation to random rounding: the second, probabilistic level.

The worst-case bound of comparisons/judge/bounds.py adds every rounding error in absolute value, at
every operation and through every later one. At realistic width that is what makes it blind:
errors propagated through W[l] (n terms of either sign) are added as if every sign agreed, and
the per-layer factor compounds. At [784, 256, 256, 10] in float32 the bound of a step-0
gradient exceeds the gradient itself (TOLERANCES.md, "Two levels").

Model (Higham & Mary, "A new approach to probabilistic rounding error analysis", SIAM J. Sci.
Comput. 41(5), 2019): every rounding fl(x op y) = (x op y)(1 + d) has |d| <= u, and the d of
different operations are independent with mean zero. To first order the error of a computed
value is then sum_s c_s d_s over the rounding events s, and by Hoeffding's inequality

    P(|error| >= lam u sqrt(V)) <= 2 exp(-lam^2 / 2),   V = sum_s (c_s b_s)^2,

b_s the size of event s (|d_s| <= u b_s): |x op y| for one rounding, C |f(x)| for an
elementary function, and for a sum of n terms in any order (blocked, pairwise, FMA) its at
most n - 1 partial sums, each <= sum|x|, so one source of size sqrt(n) sum|x| covers them.

`V` is measured, not bounded: the reference's own functions run on `Noisy` arrays (the tracing
shell, comparisons/judge/tracing.py), which hold K + 1 evaluations at once (a leading axis, as
bounds.stacked): evaluation 0 exact,
evaluations 1..K with every operation's result moved by a Gaussian of standard deviation
AMP b_s. Their responses y_k = (v_k - v_0) / AMP are exact Gaussian samples of that linear
error with variance V (the correlations that the worst case cannot see, the cancellation of
errors propagated through W with both signs, are in them), so sum y_k^2 / V is chi-squared
with K degrees of freedom and sqrt(V) <= sigma_hat * inflation(K, p) with probability 1 - p.

Decisions (relu', leaky_relu', which operand a max picks) are taken once, on evaluation 0, so
the response stays linear. A decision whose margin |x - y| lies within the probabilistic
reach of its operands' errors may go either way in another correct implementation: there the
jump (1 for a mask, the gap between branches) becomes a worst-case source `J`, propagated
like bounds' worst-case bound (absolute values), and the probabilistic bound of every value is
lam * inflation * sqrt(V) + J: a kink is a local event of the elements it reaches.

Like bounds.py, it holds no formula of the forward or backward pass, only the rounding model
of NumPy's elementary operations.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import math

import numpy as np

from comparisons.protocol.cost import K_SAMPLES, group_size
from reference import activations, losses, network, training

from .bounds import C_ELEMENTARY, logits_route
from .tracing import Shell, add_terms, install_operators, like, scoped

# The noise of evaluations 1..K, in units of each event's size b_s: small enough that the
# response is linear (second-order terms AMP^2 against AMP), large enough that the float64
# rounding of the simulation itself (2^-53 of its terms) stays 2^-33 of it.
AMP = 2.0 ** -20


@dataclasses.dataclass
class Context:
    K: int
    rng: np.random.Generator
    reach: float        # a decision with |x - y| <= reach * sigma_hat(x - y) may flip
    exact_scalars: str  # the dtype in which Python scalars are checked for exactness
    ambiguous: int = 0  # decisions found within reach


_CONTEXT: contextvars.ContextVar[Context | None] = contextvars.ContextVar("noise", default=None)


def context(K: int, seed: int, reach: float, dtype: str):
    """Evaluate with K noisy evaluations drawn from `seed` (the block yields the Context)."""
    return scoped(_CONTEXT, Context(K, np.random.default_rng(seed), reach, dtype))


def _ctx() -> Context:
    c = _CONTEXT.get()
    if c is None:
        raise RuntimeError("comparisons.judge.noise: evaluate inside noise.context(...)")
    return c


def _parts(x):
    """(stacked values or a plain array/scalar, J or None, is_python_scalar)."""
    if type(x) is Noisy:
        return x.v, x.j, False
    if isinstance(x, NoisyBool):
        raise TypeError("a comparison result is used as a number; call .astype first")
    if isinstance(x, np.ndarray):
        return x, None, False
    return x, None, True


def _b(x):
    """Evaluation 0 of a noisy operand; a plain operand as it is."""
    return x.v[0] if type(x) is Noisy else x


def _perturb(r, b):
    """Move evaluations 1..K of r by AMP * b * N(0, 1), independently per element (in place).
    b: the event's size, of one evaluation's shape (or broadcastable to it)."""
    c = _ctx()
    noise = c.rng.standard_normal(r[1:].shape)
    noise *= AMP * np.asarray(b)
    r[1:] += noise
    return r


def _shared(r, c_scalar, size=None):
    """A Python scalar rounded to the computation's dtype is one event shared by every
    element (not an independent one per element): one draw per evaluation, of `size` (by
    default |r|, the elements the scalar multiplied)."""
    c = _ctx()
    if float(np.dtype(c.exact_scalars).type(c_scalar)) == float(c_scalar):
        return r
    d = c.rng.standard_normal(c.K) * AMP
    r[1:] += d.reshape((c.K,) + (1,) * (r.ndim - 1)) * (np.abs(r[0]) if size is None else size)
    return r


class Noisy(Shell):
    """K + 1 evaluations of one value (leading axis; 0 exact) and J, the worst-case jump
    bound (absolute, of one evaluation's shape; None where no ambiguous decision reaches)."""

    __slots__ = ("v", "j")
    level = "comparisons.judge.noise"

    def __init__(self, v, j=None):
        self.v, self.j = v, j

    shape = property(lambda self: self.v.shape[1:])
    ndim = property(lambda self: self.v.ndim - 1)
    size = property(lambda self: int(np.prod(self.shape)))
    dtype = property(lambda self: self.v.dtype)

    @property
    def T(self):
        return Noisy(self.v.swapaxes(-1, -2), None if self.j is None else self.j.T)

    def astype(self, dtype):
        return self

    def sum(self, axis=None, keepdims=False):
        n = self.size if axis is None else self.shape[axis]
        ax = tuple(range(1, self.v.ndim)) if axis is None else (axis + 1 if axis >= 0 else axis)
        r = self.v.sum(axis=ax, keepdims=keepdims)
        terms = np.abs(self.v[0])
        a = None if axis is None else axis
        size = np.sqrt(max(n - 1, 0)) * terms.sum(axis=a, keepdims=keepdims)
        equal = np.ptp(terms, axis=a, keepdims=keepdims) == 0  # equal terms: worst case
        _perturb(r, np.where(equal, (n - 1) * terms.sum(axis=a, keepdims=keepdims), size))
        j = None if self.j is None else self.j.sum(axis=None if axis is None else axis,
                                                    keepdims=keepdims)
        return Noisy(r, j)

    def max(self, axis=None, keepdims=False):
        if axis is None:
            raise TypeError(f"{self.level}: max over every axis")
        ax = axis + 1 if axis >= 0 else axis
        idx = np.expand_dims(np.argmax(self.v[0], axis=axis), axis)  # the base's choice
        r = np.take_along_axis(self.v, idx[None].repeat(self.v.shape[0], 0), axis=ax)
        j = None if self.j is None else np.take_along_axis(self.j, idx, axis=axis)
        if not keepdims:
            r, j = r.squeeze(ax), None if j is None else j.squeeze(axis)
        return Noisy(r, j)


class NoisyBool(Shell):
    """A decision taken on evaluation 0, and where it lies within reach of its threshold."""

    __slots__ = ("v", "near")
    level = Noisy.level

    def __init__(self, v, near):
        self.v, self.near = v, near

    def astype(self, dtype):
        return Noisy(_stack(self.v.astype(np.float64)), None if self.near is None
                     else self.near.astype(np.float64))


def _stack(a):
    """A value of one evaluation as K + 1 identical evaluations (a read-only view)."""
    return np.broadcast_to(a, (_ctx().K + 1,) + np.shape(a))


def exact(a) -> Noisy:
    """An exact input."""
    return Noisy(_stack(np.asarray(a, dtype=np.float64)))


def _add_sub(op):
    def rule(a, b):
        va, ja, _ = _parts(a)
        vb, jb, _ = _parts(b)
        r = op(va, vb)
        _perturb(r, np.abs(r[0]))
        return Noisy(r, add_terms(ja, jb))
    return rule


def _multiply(a, b):
    va, ja, ca = _parts(a)
    vb, jb, cb = _parts(b)
    r = va * vb
    _perturb(r, np.abs(r[0]))
    if ca:
        _shared(r, va)
    if cb:
        _shared(r, vb)
    j = add_terms(None if ja is None else np.abs(_b(b)) * ja,
             None if jb is None else np.abs(_b(a)) * jb)
    return Noisy(r, j)


def _divide(a, b):
    va, ja, ca = _parts(a)
    vb, jb, cb = _parts(b)
    r = va / vb
    _perturb(r, np.abs(r[0]))
    if ca:
        _shared(r, va)
    if cb:
        _shared(r, vb)
    j = None
    if ja is not None or jb is not None:
        den = np.abs(_b(b))
        j = add_terms(None if ja is None else ja / den,
                 None if jb is None else np.abs(r[0]) * jb / den)
    return Noisy(r, j)


def _exact_unary(op):
    def rule(a):
        va, ja, _ = _parts(a)
        return Noisy(op(va), ja)
    return rule


def _elementary(f, slope):
    """f's result to C_ELEMENTARY |f| (one event), J through |f'(x)|."""
    def rule(a):
        va, ja, _ = _parts(a)
        r = f(va)
        _perturb(r, C_ELEMENTARY * np.abs(r[0]))
        return Noisy(r, None if ja is None else slope(_b(a), r[0]) * ja)
    return rule


def _select(op, pick_a):
    def rule(a, b):
        va, ja, _ = _parts(a)
        vb, jb, _ = _parts(b)
        pick = pick_a(_b(a), _b(b))
        r = np.where(pick, va, vb)
        j = None
        if ja is not None or jb is not None:  # continuous: either side's jump
            za = 0.0 if ja is None else ja
            zb = 0.0 if jb is None else jb
            j = np.broadcast_to(np.maximum(za, zb), r.shape[1:]).copy()
        return Noisy(r, j)
    return rule


def _compare(op):
    def rule(a, b):
        va, ja, _ = _parts(a)
        vb, jb, _ = _parts(b)
        d = np.asarray(va, dtype=np.float64) - vb  # stacked: one side is noisy
        sigma = np.sqrt(np.mean(((d[1:] - d[0]) / AMP) ** 2, axis=0))
        c = _ctx()
        jump = add_terms(ja, jb)
        near = np.abs(d[0]) <= c.reach * sigma + (0 if jump is None else jump)
        near &= sigma + (0 if jump is None else jump) > 0
        c.ambiguous += int(near.sum())
        return NoisyBool(op(_b(a), _b(b)), near if near.any() else None)
    return rule


def _matmul(a, b):
    va, ja, _ = _parts(a)
    vb, jb, _ = _parts(b)
    r = va @ vb
    if not r.flags.writeable:
        r = r.copy()
    n = np.shape(va)[-1]
    aa, ab = np.abs(_b(a)), np.abs(_b(b))
    size = math.sqrt(n) * (aa @ ab)
    # Equal terms (a constant row of A times a constant column of B) round alike: worst case.
    equal = (np.ptp(aa, axis=-1) == 0)[..., :, None] & (np.ptp(ab, axis=-2) == 0)[..., None, :]
    if equal.any():
        size = np.where(equal, n * (aa @ ab), size)
    _perturb(r, size)
    j = add_terms(None if ja is None else ja @ ab, None if jb is None else aa @ jb)
    return Noisy(r, j)


def _where(cond, x, y):
    """A branch on evaluation 0's decision; where it may flip, the gap is a jump."""
    c = cond.v if isinstance(cond, NoisyBool) else np.asarray(cond)
    vx, jx, cx = _parts(x)
    vy, jy, cy = _parts(y)
    r = np.where(c, vx, vy)
    r = np.array(np.broadcast_to(r, (_ctx().K + 1,) + np.shape(c)), dtype=np.float64)
    if cx:
        _shared(r, vx, np.where(c, abs(vx), 0.0))
    if cy:
        _shared(r, vy, np.where(~c, abs(vy), 0.0))
    j = None
    if jx is not None or jy is not None:
        j = np.where(c, 0.0 if jx is None else jx, 0.0 if jy is None else jy)
    if isinstance(cond, NoisyBool) and cond.near is not None:
        gap = np.abs(np.asarray(_b(x), dtype=np.float64) - _b(y))
        extra = np.where(cond.near, gap, 0.0)
        j = extra if j is None else j + extra
    return Noisy(r, j)


Noisy.ufunc_rules = {
    np.add: _add_sub(np.add), np.subtract: _add_sub(np.subtract),
    np.multiply: _multiply, np.true_divide: _divide,
    np.negative: _exact_unary(np.negative), np.positive: _exact_unary(np.positive),
    np.absolute: _exact_unary(np.absolute),
    np.exp: _elementary(np.exp, lambda x, r: r),
    np.log: _elementary(np.log, lambda x, r: 1 / np.abs(x)),
    np.log1p: _elementary(np.log1p, lambda x, r: 1 / np.abs(1 + x)),
    np.tanh: _elementary(np.tanh, lambda x, r: 1 - r * r),
    np.maximum: _select(np.maximum, np.greater_equal),
    np.minimum: _select(np.minimum, np.less_equal),
    np.greater: _compare(np.greater), np.greater_equal: _compare(np.greater_equal),
    np.less: _compare(np.less), np.less_equal: _compare(np.less_equal),
    np.matmul: _matmul,
}


install_operators(Noisy)
Noisy.function_rules = NoisyBool.function_rules = {
    np.where: _where, np.ones_like: like(np.ones_like, _b), np.zeros_like: like(np.zeros_like, _b)}


# --- Other routes (as bounds.py): one more independent source of their size ----------

@losses.fused_output_delta.register(Noisy)
def _fused_output_delta(ZL, Y, loss, reduction):
    out = losses.fused_output_delta.dispatch(object)(ZL, Y, loss, reduction)
    z = ZL.v[0]
    _perturb(out.v, logits_route(z, np.asarray(Y), loss, reduction, z.shape[-1]))
    return out


@activations.tanh_derivative.register(Noisy)
def _tanh_derivative(Z):
    out = activations.tanh_derivative.dispatch(object)(Z)
    _perturb(out.v, (2 * C_ELEMENTARY + 2) * np.abs(out.v[0]))
    return out


@losses.softplus.register(Noisy)
def _softplus(Z):
    out = losses.softplus.dispatch(object)(Z)
    _perturb(out.v, C_ELEMENTARY * np.abs(out.v[0]))
    return out


# --- From samples to a bound ------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def chi2_lower(K: int, p: float) -> float:
    """The p-quantile of chi-squared with K (even) degrees of freedom: the x with
    P(chi2_K <= x) = p = exp(-x/2) sum_{j >= K/2} (x/2)^j / j!  (bisection on a log scale)."""
    if K % 2:
        raise ValueError("K must be even")

    def cdf(x):
        h = x / 2
        term = math.exp(-h + (K // 2) * math.log(h) - math.lgamma(K // 2 + 1)) if h > 0 else 0.0
        total, j = 0.0, K // 2
        while term > 1e-300 and j < K // 2 + 10000:
            total += term
            j += 1
            term *= h / j
            if term < total * 1e-17:
                break
        return total
    lo, hi = 1e-12, float(K)
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if cdf(mid) < p:
            lo = mid
        else:
            hi = mid
    return lo


@dataclasses.dataclass(frozen=True)
class Level:
    """The probabilistic level's constants for a run of N judged elements and decisions at
    failure probability p: lam from Hoeffding (2 exp(-lam^2/2) <= p / (2N) per element) and
    the inflation of sqrt(V) over sigma_hat from chi2_K (P <= p / (2N) per element)."""

    K: int
    p: float
    N: int

    @property
    def per_element(self) -> float:
        return self.p / (2 * self.N)

    @property
    def lam(self) -> float:
        return math.sqrt(2 * math.log(2 / self.per_element))

    @property
    def inflation(self) -> float:
        return math.sqrt(self.K / chi2_lower(self.K, self.per_element))

    @property
    def factor(self) -> float:
        """sigma_hat -> the probabilistic bound (in units of u, before the pair's u_a + u_b)."""
        return self.lam * self.inflation


def squared_responses(x: Noisy) -> np.ndarray:
    """The sum over its evaluations of each element's squared response, in units of u
    (sigma_hat^2 times their number; inf where a response overflows: no statement there)."""
    with np.errstate(over="ignore", invalid="ignore"):
        y = (x.v[1:] - x.v[0]) / AMP
        return (y * y).sum(axis=0)


# --- The probabilistic level of a case's step-0 values -----------------------------------------

# K_SAMPLES, responses per value at step 0, and K_STEP, per update, are protocol.cost's: the
# memory estimate checked before any work counts them.
P_RUN = 1e-9         # the probability that a correct pair fails at this level, per pair and case
SEED = 0


def judged_elements(case) -> int:
    """An upper bound of the elements a pair judges at this level, plus the decisions they
    depend on (the union bound's N): every parameter, A[L] and every hidden value, at step 0
    and after each update."""
    P = sum(v.size for v in case.params.values())
    hidden = sum(case.layers[1:]) * case.m
    return (P + hidden) * (case.updates + 2)


def duplicates(case, X, params) -> int:
    """D: identical computations make identical rounding errors, which the independent noise
    of the simulation would count as independent; the largest group of identical samples
    times, per hidden layer, the largest group of identical units bounds the factor on the
    variance (sqrt(D) on sigma)."""
    def largest(rows):
        _, counts = np.unique(np.ascontiguousarray(rows), axis=0, return_counts=True)
        return int(counts.max()) if counts.size else 1
    D = largest(X.T)
    for l in range(1, case.L):
        D *= largest(np.hstack([params[f"W{l}"], params[f"b{l}"]]))
    return D


def _group(params, layers, m: int, K: int) -> int:
    """How many noisy evaluations to stack at once: about GROUP_BYTES of values alive
    (protocol.cost.group_size)."""
    return group_size(sum(v.size for v in params.values()), layers, m, K)


def initial_units(case, dtype: str) -> dict:
    """The probabilistic bound of the step-0 gradients and the initial A[L] of the float64
    `case` (the oracle's), for comparisons whose lower precision is `dtype`: per value,
    S = factor * sigma_hat * sqrt(D) in units of u (a pair's bound is (u_a + u_b) gamma S)
    and J, the jumps of decisions within reach (absolute). An element below the dtype's
    smallest normal number times the longest sum may underflow, which the model does not
    cover: its S is inf there (the worst-case level alone decides)."""
    X, Y, params = training.cast(case)
    _, first = case.update_batches()
    level = Level(K_SAMPLES, P_RUN, judged_elements(case))
    u = float(np.finfo(dtype).eps) / 2
    G = _group(params, case.layers, case.m, K_SAMPLES)
    ss, J = {}, {}
    for g0 in range(0, K_SAMPLES, G):
        k = min(G, K_SAMPLES - g0)
        with np.errstate(all="ignore"), context(k, SEED + g0, level.factor * 2 * u, dtype):
            P = {name: exact(v) for name, v in params.items()}
            grads = training.initial_gradients(P, X[:, first], Y[:, first], case.activations,
                                               case.loss, case.reduction)
            AL, _ = network.forward_propagation(X, P, case.activations)
        values = {f"d{n}": v for n, v in grads.items()} | {"initial A[L]": AL}
        for name, v in values.items():
            ss[name] = ss.get(name, 0.0) + squared_responses(v)
            J.setdefault(name, v.j)
    D = duplicates(case, X[:, first], params)
    n = max(max(case.layers), case.m) + 1
    tiny = float(np.finfo(dtype).tiny) * n
    ref = {f"d{k}": v for k, v in training.initial_gradients(
        params, X[:, first], Y[:, first], case.activations, case.loss, case.reduction).items()}
    ref["initial A[L]"] = network.forward_propagation(X, params, case.activations)[0]
    S = {}
    for name in ss:
        s = level.factor * np.sqrt(ss[name] / K_SAMPLES * D)
        S[name] = np.where(np.abs(ref[name]) < tiny, np.inf, s)
    return {"S": S, "J": {k: (np.zeros(S[k].shape) if v is None else v) for k, v in J.items()},
            "p": P_RUN, "factor": level.factor, "K": K_SAMPLES, "D": D, "N": level.N}


def step_units(case, dtype: str, K: int) -> dict:
    """The probabilistic level of a one-update case from exact parameters (local judging):
    S and J (as `initial_units`) of the loss before the update ("losses", with inf for the
    final loss, which the worst-case level judges) and of every parameter after it
    ("final W1", ...), from K responses of the update step."""
    X, Y, params = training.cast(case)
    (idx,), _ = case.update_batches()
    level = Level(K, P_RUN, judged_elements(case))
    u = float(np.finfo(dtype).eps) / 2
    step = training.STEPS[case.schedule]
    m = X[:, idx].shape[1]
    G = _group(params, case.layers, m, K)
    ss, J, base, frozen = {}, {}, {}, set()
    for g0 in range(0, K, G):  # groups of evaluations within GROUP_BYTES, as initial_units
        with np.errstate(all="ignore"), context(min(G, K - g0), SEED + g0, level.factor * 2 * u,
                                                dtype):
            P = {name: exact(v) for name, v in params.items()}
            value, new = step(P, X[:, idx], Y[:, idx], case.activations, case.loss,
                              case.reduction, case.lr, case.trainable_names)
        for name, v in [("losses", value)] + [(f"final {k}", x) for k, x in new.items()]:
            if type(v) is not Noisy:  # a frozen parameter: returned as it came, exactly
                frozen.add(name)
                base[name] = np.asarray(v)
                continue
            ss[name] = ss.get(name, 0.0) + squared_responses(v)
            J.setdefault(name, v.j)
            base.setdefault(name, v.v[0])
    D = duplicates(case, X[:, idx], params)
    n = max(max(case.layers), case.m) + 1
    tiny = float(np.finfo(dtype).tiny) * n
    S = {}
    for name, v in base.items():
        if name in frozen:
            S[name], J[name] = np.zeros(np.shape(v)), np.zeros(np.shape(v))
            continue
        s = level.factor * np.sqrt(ss[name] / K * D)
        S[name] = np.where(np.abs(v) < tiny, np.inf, s)
        J[name] = np.zeros(np.shape(s)) if J[name] is None else J[name]
    S["losses"] = np.array([float(S["losses"]), np.inf])
    J["losses"] = np.array([float(J["losses"]), 0.0])
    return {"S": S, "J": J, "p": P_RUN, "factor": level.factor, "K": K, "D": D, "N": level.N}
