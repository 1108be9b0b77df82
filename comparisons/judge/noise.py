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
shell, comparisons/judge/tracing.py), each the exact value (float64) and K tangents beside it
(a leading axis): the first-order response of the value to K independent draws of every
event's error, each event moving its result by b_s times a standard Gaussian, carried forward
through every later operation by its derivative (forward-mode differentiation of the
reference, a JVP with the noise as its seed). The K responses y_k of a value are exact
Gaussian samples of its linear error, with variance V (the correlations that the worst case
cannot see, the cancellation of errors propagated through W with both signs, are in them), so
sum y_k^2 / V is chi-squared with K degrees of freedom and sqrt(V) <= sigma_hat *
inflation(K, p) with probability 1 - p. A value no rounding has reached carries no tangents.

The tangents are computed in the dtype judged (float32 for a float32 comparison): they
estimate a standard deviation, which the rounding of their own arithmetic moves by a relative
n u at most (TOLERANCES.md, "Every update, one step"), while float32 halves their memory and
runs their products three times faster than float64.

Decisions (relu', leaky_relu', which operand a max picks) are taken once, on the exact value,
so the response stays linear. A decision whose margin |x - y| lies within the probabilistic
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
import math

import numpy as np

from comparisons.protocol.case import map_state
from comparisons.protocol.cost import K_SAMPLES, group_size
from reference import activations, losses, network, optimizers, precision, training

from . import bounds
from .bounds import C_ELEMENTARY, logits_route, steepest
from .tracing import Shell, add_terms, install_operators, like, scoped


@dataclasses.dataclass
class Context:
    K: int
    rng: np.random.Generator
    reach: float        # a decision with |x - y| <= reach * sigma_hat(x - y) may flip
    exact_scalars: str  # the dtype judged: Python scalars are checked for exactness in it,
                        # and the tangents are computed in it
    tape: list | None = None  # shared by the passes of one evaluation (`measure`)
    jumps: bool = True  # decide which decisions lie within reach, and carry J
    uses: dict | None = None  # each value's consumers, by creation order (`measure`)
    record: bool = False  # count them (the first pass), or fold by them (the later ones)
    pos: int = 0        # the next entry of the tape
    made: int = 0       # values created so far

    @property
    def tangent(self):
        return np.dtype(self.exact_scalars)

    @property
    def fuse(self) -> bool:
        return self.uses is not None and not self.record


_CONTEXT: contextvars.ContextVar[Context | None] = contextvars.ContextVar("noise", default=None)


def context(K: int, seed: int, reach: float, dtype: str, tape: list | None = None,
            jumps: bool = True, uses: dict | None = None, record: bool = False):
    """Evaluate with K responses drawn from `seed` (the block yields the Context). Passes
    that share a `tape` compute each matrix product's exact value once and pool every
    decision's responses (`measure`); with `jumps`, decisions within reach become jumps.
    `uses`: filled with each value's consumers (`record`), or read to fold events (`fold`)."""
    # SFC64: the fastest of NumPy's generators here; its Gaussians are the generator's own
    rng = np.random.Generator(np.random.SFC64(seed))
    return scoped(_CONTEXT, Context(K, rng, reach, dtype, tape, jumps, uses, record))


def _taped(key, compute):
    """The tape's entry for this operation (computed by the pass that first reaches it), or
    compute() where there is no tape. An evaluation takes the same operations in the same
    order in every pass (its decisions are the exact values'); a pass that does not is
    refused."""
    c = _ctx()
    if c.tape is None:
        return compute()
    i, c.pos = c.pos, c.pos + 1
    if i < len(c.tape):
        if c.tape[i][0] != key:
            raise RuntimeError(f"comparisons.judge.noise: operation {i} is {key}, "
                               f"{c.tape[i][0]} in the pass before")
        return c.tape[i][1]
    value = compute()
    c.tape.append((key, value))
    return value


def _ctx() -> Context:
    c = _CONTEXT.get()
    if c is None:
        raise RuntimeError("comparisons.judge.noise: evaluate inside noise.context(...)")
    return c


def _b(x):
    """The exact value of a noisy operand; a plain operand as it is."""
    return x.b if type(x) is Noisy else x


def _low(a):
    """An exact value in the tangents' dtype (to multiply them)."""
    return np.asarray(a).astype(_ctx().tangent, copy=False)


def _event(t, b, shape):
    """Tangents `t` (None: zero) plus a new event: every element moved by b * N(0, 1),
    independently per element and response. b: the event's size (broadcastable to shape)."""
    c = _ctx()
    noise = c.rng.standard_normal((c.K,) + tuple(shape), dtype=c.tangent)
    with np.errstate(over="ignore", invalid="ignore"):
        noise *= _low(b)
    if t is None:
        return noise
    noise += t
    return noise


def _shared(t, c_scalar, size):
    """A Python scalar rounded to the dtype judged is one event shared by every element (not
    an independent one per element): one draw per response, of `size` (the elements the
    scalar multiplied)."""
    c = _ctx()
    if float(np.dtype(c.exact_scalars).type(c_scalar)) == float(c_scalar):
        return t
    d = c.rng.standard_normal(c.K).astype(c.tangent)
    shared = d.reshape((c.K,) + (1,) * np.ndim(size)) * _low(size)
    return shared if t is None else t + shared


class Noisy(Shell):
    """One value: `b`, its exact evaluation (float64); `t`, its K responses to random
    rounding (leading axis, the dtype judged; None where no rounding reached it); `j`, the
    worst-case jump bound (absolute, of b's shape; None where no ambiguous decision
    reaches); and `ps`, the standard deviation of its events not drawn yet (None: none;
    `measure`)."""

    __slots__ = ("b", "t", "j", "ps", "id")
    level = "comparisons.judge.noise"

    def __init__(self, b, t=None, j=None, ps=None):
        self.b, self.t, self.j, self.ps = b, t, j, ps
        c = _CONTEXT.get()
        if c is not None:
            self.id, c.made = c.made, c.made + 1

    shape = property(lambda self: np.shape(self.b))
    ndim = property(lambda self: np.ndim(self.b))
    size = property(lambda self: int(np.prod(self.shape)))
    dtype = property(lambda self: np.asarray(self.b).dtype)

    @property
    def T(self):
        _settled(self)
        return Noisy(self.b.T, None if self.t is None else self.t.swapaxes(-1, -2),
                     None if self.j is None else self.j.T)

    def astype(self, dtype):
        return self

    def sum(self, axis=None, keepdims=False):
        _settled(self)
        n = self.size if axis is None else self.shape[axis]
        r = self.b.sum(axis=axis, keepdims=keepdims)
        terms = np.abs(self.b)
        size = np.sqrt(max(n - 1, 0)) * terms.sum(axis=axis, keepdims=keepdims)
        equal = np.ptp(terms, axis=axis, keepdims=keepdims) == 0  # equal terms: worst case
        size = np.where(equal, (n - 1) * terms.sum(axis=axis, keepdims=keepdims), size)
        t = None
        if self.t is not None:
            ax = tuple(range(1, self.t.ndim)) if axis is None else (
                axis + 1 if axis >= 0 else axis)
            t = self.t.sum(axis=ax, keepdims=keepdims)
        j = None if self.j is None else self.j.sum(axis=axis, keepdims=keepdims)
        return _with_event(r, t, None, size, j)

    def max(self, axis=None, keepdims=False):
        if axis is None:
            raise TypeError(f"{self.level}: max over every axis")
        _settled(self)
        idx = np.expand_dims(np.argmax(self.b, axis=axis), axis)  # the exact value's choice
        r = np.take_along_axis(self.b, idx, axis=axis)
        t = None
        if self.t is not None:
            ax = axis + 1 if axis >= 0 else axis
            t = np.take_along_axis(self.t, idx[None], axis=ax)
        j = None if self.j is None else np.take_along_axis(self.j, idx, axis=axis)
        if not keepdims:
            r = r.squeeze(axis)
            t = None if t is None else t.squeeze(axis + 1 if axis >= 0 else axis)
            j = None if j is None else j.squeeze(axis)
        return Noisy(r, t, j)


def _rounded_to(self, dtype):
    """fl_low(x) (reference.precision.round_to), a decision on the exact value, as bounds'
    Traced.rounded_to is at the worst-case level: where no rounding boundary lies within the
    reach of x's error (reach sigma_hat + J, its responses pooled over the passes like a
    comparison's margin), every correct implementation rounds to the reference's r, which then
    carries no response and no jump; where one does, it may round to any low value within that
    reach: a jump J of the largest such distance."""
    ((v, t, j),) = _drawn(self)
    c = _ctx()
    r = precision.round_to(np.asarray(v, dtype=np.float64), dtype)
    pooled = _taped(("round", np.shape(v)), lambda: [np.zeros(np.shape(v)), 0])
    if t is not None and c.K:
        pooled[0] = _rss(pooled[0], response_norm(t))
        pooled[1] += t.shape[0]
    if not c.jumps:
        return Noisy(r)
    width = c.reach * pooled[0] / math.sqrt(max(pooled[1], 1)) + (0 if j is None else j)
    width = np.where(np.isnan(width), np.inf, width)  # NaN: nothing known, any value reachable
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.maximum(precision.round_to(v + width, dtype) - r,
                         r - precision.round_to(v - width, dtype))
    gap = np.where(np.isnan(gap), np.inf, gap)
    return Noisy(r, None, gap if (gap > 0).any() else None)


Noisy.rounded_to = _rounded_to


class NoisyBool(Shell):
    """A decision taken on the exact value, and where it lies within reach of its threshold."""

    __slots__ = ("v", "near")
    level = Noisy.level

    def __init__(self, v, near):
        self.v, self.near = v, near

    def astype(self, dtype):
        return Noisy(self.v.astype(np.float64), None,
                     None if self.near is None else self.near.astype(np.float64))


def exact(a) -> Noisy:
    """An exact input."""
    _ctx()
    return Noisy(np.asarray(a, dtype=np.float64))


# --- Events drawn late ------------------------------------------------------------------------
#
# Drawing an event's K Gaussians costs more than the arithmetic around it. Where a value's
# only consumer is an element-wise operation of its own shape, its events need not be drawn:
# their standard deviation (`ps`, per element) goes through the operation's derivative into the
# result's, whose events are drawn once, where the value is consumed otherwise (in place, so
# that every consumer sees the same draw) or returned. Independent Gaussians at one element
# sum to one Gaussian of the summed variance, so the responses are the same in distribution.
# Who consumes what is counted in a first pass (`measure`); the later passes take the same
# operations in the same order (the tape checks it).

def _use(x) -> None:
    """Count one consumption of x (the first pass)."""
    c = _CONTEXT.get()
    if c is not None and c.record and type(x) is Noisy:
        c.uses[x.id] = c.uses.get(x.id, 0) + 1


def _settled(x):
    """x with its pending events drawn (in place) and counted as consumed."""
    if type(x) is not Noisy:
        return x
    _use(x)
    if x.ps is not None:
        x.t = _event(x.t, x.ps, x.shape)
        x.ps = None
    return x


def _rss(a, b):
    """sqrt(a^2 + b^2), either None for 0, without the underflow of squaring (np.hypot):
    independent events at one element, whatever their size in the dtype's range."""
    if a is None:
        return None if b is None else np.abs(np.asarray(b, dtype=np.float64))
    return a if b is None else np.hypot(a, b)


def _flushed(r):
    """Underflow, which no random rounding models: a result below the judged dtype's smallest
    normal number may be subnormal or flushed to 0 (XLA's CPU flushes), an absolute error up
    to tiny. A jump J (worst case, carried through every later operation) of tiny where a
    nonzero exact result lies below it; None where none does (a matrix product's terms:
    `_matmul`; bounds._underflow is the worst-case level's)."""
    tiny = float(np.finfo(_ctx().tangent).tiny)
    a = np.abs(np.asarray(r, dtype=np.float64))
    low = (a > 0) & (a < tiny)
    return np.where(low, tiny, 0.0) if low.any() else None


def _with_event(r, t, ps, size, j=None) -> Noisy:
    """A result with one more event of `size`: drawn, or pending where its pass folds; and
    where it may underflow, J (`_flushed`)."""
    j = add_terms(j, _flushed(r))
    if _ctx().fuse:
        return Noisy(r, t, j, _rss(ps, size))
    if ps is not None:
        t = _event(t, ps, np.shape(r))
    return Noisy(r, _event(t, size, np.shape(r)), j)


def _linear(r, terms, size=None, j=None) -> Noisy:
    """An element-wise result: its tangents sum_i d_i t_i over its operands (`terms`:
    (operand, d_i = the derivative)), their pending variance where it folds, and its own
    event of `size` (None: exact)."""
    c = _ctx()
    t = ps = None
    if len(terms) == 2 and terms[0][0] is terms[1][0]:  # x * x: one operand, d = d_1 + d_2
        (x, d1), (_, d2) = terms
        terms = [(x, d1 + d2 if type(d1) is int and type(d2) is int
                  else np.add(d1, d2, dtype=np.float64))]
    for x, d in terms:
        if type(x) is not Noisy:
            continue
        _use(x)
        if x.ps is not None:
            if c.fuse and c.uses.get(x.id) == 1 and x.shape == np.shape(r):
                ps = _rss(ps, x.ps * np.abs(np.asarray(d, dtype=np.float64)))
            else:
                x.t, x.ps = _event(x.t, x.ps, x.shape), None
        if x.t is not None:
            xt = x.t
            if xt.ndim - 1 < np.ndim(r):  # a value that broadcasts (a norm, a 0-d factor)
                xt = xt.reshape(xt.shape[:1] + (1,) * (np.ndim(r) - xt.ndim + 1) + xt.shape[1:])
            unit = type(d) is int and d in (1, -1)
            t = add_terms(t, (xt if d == 1 else -xt) if unit else xt * _low(d))
    if size is None:
        return Noisy(r, t, j, ps)
    return _with_event(r, t, ps, size, j)


def _scalar(x) -> bool:
    return not isinstance(x, (Noisy, NoisyBool, np.ndarray))


def _refuse_bool(*xs):
    for x in xs:
        if isinstance(x, NoisyBool):
            raise TypeError("a comparison result is used as a number; call .astype first")


def _add_sub(op, sign):
    def rule(a, b):
        _refuse_bool(a, b)
        va, vb = _b(a), _b(b)
        r = op(va, vb)
        return _linear(r, [(a, 1), (b, sign)], np.abs(r),
                       add_terms(getattr(a, "j", None), getattr(b, "j", None)))
    return rule


def _multiply(a, b):
    _refuse_bool(a, b)
    va, vb = _b(a), _b(b)
    ja, jb = getattr(a, "j", None), getattr(b, "j", None)
    r = va * vb
    j = add_terms(None if ja is None else np.abs(vb) * ja,
                  None if jb is None else np.abs(va) * jb,
                  None if ja is None or jb is None else ja * jb)  # exact: |dx dy| too
    out = _linear(r, [(a, vb), (b, va)], np.abs(r), j)
    if _scalar(a):
        out.t = _shared(out.t, va, np.abs(r))
    if _scalar(b):
        out.t = _shared(out.t, vb, np.abs(r))
    return out


def _divide(a, b):
    _refuse_bool(a, b)
    va, vb = _b(a), _b(b)
    ja, jb = getattr(a, "j", None), getattr(b, "j", None)
    r = va / vb
    j = None
    if ja is not None or jb is not None:
        den = np.abs(vb)
        if jb is not None:  # the mean-value bound: any jump of the denominator short of 0
            den = np.where(den > jb, den - jb, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            j = add_terms(None if ja is None else ja / den,
                          None if jb is None else np.abs(r) * jb / den)
    with np.errstate(all="ignore"):
        inv = 1 / np.asarray(vb, dtype=np.float64)
        out = _linear(r, [(a, inv), (b, -r * inv)], np.abs(r), j)
    if _scalar(a):
        out.t = _shared(out.t, va, np.abs(r))
    if _scalar(b):
        out.t = _shared(out.t, vb, np.abs(r))
    return out


def _negative(a):
    _refuse_bool(a)
    return _linear(-_b(a), [(a, -1)], None, getattr(a, "j", None))


def _positive(a):
    _refuse_bool(a)
    return _linear(+_b(a), [(a, 1)], None, getattr(a, "j", None))


def _absolute(a):
    """|x| is exact; its derivative is sign(x) (at an exact 0, +1: the squared response is
    the same either way)."""
    _refuse_bool(a)
    va = _b(a)
    return _linear(np.abs(va), [(a, np.where(va < 0, -1.0, 1.0))], None, getattr(a, "j", None))


def _elementary(f, derivative):
    """f's result to C_ELEMENTARY |f| (one event); the tangents through f'(x), J through the
    largest |f'| within J of x (bounds.steepest: a jump, a whole low unit after a rounding to
    bfloat16, is no first-order quantity)."""
    def rule(a):
        _refuse_bool(a)
        va, ja = _b(a), getattr(a, "j", None)
        r = f(va)
        d = derivative(va, r)
        return _linear(r, [(a, d)], C_ELEMENTARY * np.abs(r),
                       None if ja is None else steepest(f.__name__, va, ja) * ja)
    return rule


def _sqrt(a):
    """sqrt is correctly rounded: one event of |r|; the tangents through 1 / (2 sqrt(x)). At an
    exact 0 that a rounding reached the response is not linear (sqrt of a rounding-sized
    value): J is inf there, no first-order bound (the worst-case level decides)."""
    _refuse_bool(a)
    va, ja = _b(a), getattr(a, "j", None)
    r = np.sqrt(va)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(r > 0, 0.5 / r, 0.0)
    reached = None
    if type(a) is Noisy and np.any(r == 0):
        hit = np.zeros(np.shape(r), dtype=bool)
        if a.t is not None:
            hit |= np.any(a.t != 0, axis=0)
        for extra in (a.ps, ja):
            if extra is not None:
                hit |= np.asarray(extra) > 0
        reached = np.where((r == 0) & hit, np.inf, 0.0)
    j = None if ja is None else np.abs(d) * ja
    return _linear(r, [(a, d)], np.abs(r), add_terms(j, reached))


def _drawn(*xs):
    """For an operation that is not element-wise: each operand's (exact value, tangents, J),
    its pending events drawn first (`_settled`)."""
    _refuse_bool(*xs)
    return [(_b(x), getattr(x, "t", None), getattr(x, "j", None))
            for x in map(_settled, xs)]


def _select(op, pick_a):
    def rule(a, b):
        (va, ta, ja), (vb, tb, jb) = _drawn(a, b)
        pick = pick_a(va, vb)
        r = np.where(pick, va, vb)
        t = None
        if ta is not None or tb is not None:
            K = _ctx().K
            za = np.zeros((K,) + np.shape(r), _ctx().tangent) if ta is None else ta
            zb = np.zeros((K,) + np.shape(r), _ctx().tangent) if tb is None else tb
            t = np.where(pick, za, zb)
        j = None
        if ja is not None or jb is not None:  # continuous: either side's jump
            za = 0.0 if ja is None else ja
            zb = 0.0 if jb is None else jb
            j = np.broadcast_to(np.maximum(za, zb), np.shape(r)).copy()
        return Noisy(r, t, j)
    return rule


def _compare(op):
    """A decision, on the exact values. Its margin's responses are pooled over the passes of
    one evaluation (the tape); where they are all in, a margin within reach of its
    probabilistic error plus the operands' jumps may flip."""
    def rule(a, b):
        (va, ta, ja), (vb, tb, jb) = _drawn(a, b)
        d = np.asarray(va, dtype=np.float64) - vb
        td = add_terms(ta, None if tb is None else -tb)
        c = _ctx()
        pooled = _taped(("compare", np.shape(d)), lambda: [np.zeros(np.shape(d)), 0])
        if td is not None and c.K:
            pooled[0] = _rss(pooled[0], response_norm(td))
            pooled[1] += td.shape[0]
        if not c.jumps:
            return NoisyBool(op(va, vb), None)
        sigma = pooled[0] / math.sqrt(max(pooled[1], 1))
        jump = add_terms(ja, jb)
        near = np.abs(d) <= c.reach * sigma + (0 if jump is None else jump)
        near &= sigma + (0 if jump is None else jump) > 0
        return NoisyBool(op(va, vb), near if near.any() else None)
    return rule


def _matmul_exact(va, vb):
    """The exact product and its event's size (in the tangents' dtype): sqrt(n) |A| |B|, or
    for equal terms (a constant row of A times a constant column of B), which round alike,
    the worst case's n |A| |B|."""
    r = va @ vb
    n = np.shape(va)[-1]
    aa, ab = np.abs(va), np.abs(vb)
    terms = aa @ ab
    size = math.sqrt(n) * terms
    equal = (np.ptp(aa, axis=-1) == 0)[..., :, None] & (np.ptp(ab, axis=-2) == 0)[..., None, :]
    if equal.any():
        size = np.where(equal, n * terms, size)
    return r, _low(size)


def _matmul(a, b):
    (va, ta, ja), (vb, tb, jb) = _drawn(a, b)
    r, size = _taped(("matmul", np.shape(va), np.shape(vb)), lambda: _matmul_exact(va, vb))
    t = add_terms(None if ta is None else ta @ _low(vb), None if tb is None else _low(va) @ tb)
    j = None
    if ja is not None or jb is not None:
        j = add_terms(None if ja is None else ja @ np.abs(vb),
                      None if jb is None else np.abs(va) @ jb)
    n = np.shape(va)[-1]
    tiny = float(np.finfo(_ctx().tangent).tiny)
    nonzero = lambda v: np.abs(v)[v != 0]  # noqa: E731
    fa, fb = nonzero(np.asarray(va)), nonzero(np.asarray(vb))
    if fa.size and fb.size and float(fa.min()) * float(fb.min()) < tiny:  # a product may
        j = add_terms(j, np.full(np.shape(r), n * tiny))                 # underflow
    return _with_event(r, t, None, size, j)


def _where(cond, x, y):
    """A branch on the exact value's decision; where it may flip, the gap is a jump."""
    c = cond.v if isinstance(cond, NoisyBool) else np.asarray(cond)
    (vx, tx, jx), (vy, ty, jy) = _drawn(x, y)
    r = np.array(np.broadcast_to(np.where(c, vx, vy), np.shape(c)), dtype=np.float64)
    t = None
    if tx is not None or ty is not None:
        K = _ctx().K
        zx = np.zeros((K,) + r.shape, _ctx().tangent) if tx is None else tx
        zy = np.zeros((K,) + r.shape, _ctx().tangent) if ty is None else ty
        t = np.where(c, zx, zy)
    if _scalar(x):
        t = _shared(t, vx, np.where(c, abs(vx), 0.0))
    if _scalar(y):
        t = _shared(t, vy, np.where(~c, abs(vy), 0.0))
    j = None
    if jx is not None or jy is not None:
        j = np.where(c, 0.0 if jx is None else jx, 0.0 if jy is None else jy)
    if isinstance(cond, NoisyBool) and cond.near is not None:
        gap = np.abs(np.asarray(vx, dtype=np.float64) - vy)
        extra = np.where(cond.near, gap, 0.0)
        j = extra if j is None else j + extra
    return Noisy(r, t, j)


Noisy.ufunc_rules = {
    np.add: _add_sub(np.add, 1), np.subtract: _add_sub(np.subtract, -1),
    np.multiply: _multiply, np.true_divide: _divide,
    np.negative: _negative, np.positive: _positive, np.absolute: _absolute,
    np.sqrt: _sqrt, np.exp: _elementary(np.exp, lambda x, r: r),
    np.log: _elementary(np.log, lambda x, r: 1 / x),
    np.log1p: _elementary(np.log1p, lambda x, r: 1 / (1 + x)),
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

def _also(out: Noisy, size) -> Noisy:
    """`out` with one more independent event of `size` (pending where its pass folds)."""
    if _ctx().fuse:
        out.ps = _rss(out.ps, size)
    else:
        out.t = _event(_settled_t(out), size, out.shape)
    return out


def _settled_t(x: Noisy):
    """x's tangents with its pending events drawn (not a consumption)."""
    if x.ps is not None:
        x.t, x.ps = _event(x.t, x.ps, x.shape), None
    return x.t


@losses.fused_output_delta.register(Noisy)
def _fused_output_delta(ZL, Y, loss, reduction):
    out = losses.fused_output_delta.dispatch(object)(ZL, Y, loss, reduction)
    z = ZL.b
    return _also(out, logits_route(z, np.asarray(Y), loss, reduction, z.shape[-1]))


@activations.tanh_derivative.register(Noisy)
def _tanh_derivative(Z):
    out = activations.tanh_derivative.dispatch(object)(Z)
    return _also(out, (2 * C_ELEMENTARY + 2) * np.abs(out.b))


@losses.softplus.register(Noisy)
def _softplus(Z):
    out = losses.softplus.dispatch(object)(Z)
    return _also(out, C_ELEMENTARY * np.abs(out.b))


# --- From samples to a bound ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Level:
    """The probabilistic level's constant for a run of N judged elements and decisions at
    failure probability p (TOLERANCES.md, "Two levels"). An element's error e is
    sub-Gaussian with variance proxy u^2 V (Hoeffding: P(|e| >= t) <= 2 exp(-t^2 / (2 u^2 V))),
    and sigma_hat^2 = V chi2_K / K comes from the simulation, independent of e. So

        P(|e| >= x u sigma_hat) <= E[2 exp(-x^2 chi2_K / (2K))] = 2 (1 + x^2 / K)^(-K/2),

    the moment generating function of chi2_K; `factor` is the x that makes this p / N. As K
    grows it falls to `lam`, Hoeffding's constant with V known."""

    K: int
    p: float
    N: int

    @property
    def per_element(self) -> float:
        return self.p / self.N

    def tail(self, x: float) -> float:
        """P(|e| >= x u sigma_hat) at most."""
        return 2 * (1 + x * x / self.K) ** (-self.K / 2)

    @property
    def factor(self) -> float:
        """sigma_hat -> the probabilistic bound (in units of u, before the pair's u_a + u_b):
        the x with tail(x) = p / N."""
        return math.sqrt(self.K * math.expm1(2 * math.log(2 / self.per_element) / self.K))

    @property
    def lam(self) -> float:
        """The limit of `factor` for K -> infinity (V known): 2 exp(-lam^2 / 2) = p / N."""
        return math.sqrt(2 * math.log(2 / self.per_element))


@optimizers.adam_direction.register(Noisy)
def _adam_direction(M, V, k, beta1, beta2, eps, epsilon, corrected):
    """The reference's route, with the division's first order checked: where the
    denominator's probabilistic reach (the decisions' reach times its estimated standard
    deviation, plus its J) is bounds.NO_DIGIT of its value or more, sqrt(V^) at the level of
    rounding has no digit left and the quotient is not linear in its errors: J is inf there,
    no first-order statement (the worst-case level says the same: bounds._adam_direction)."""
    out = optimizers.adam_direction.dispatch(object)(M, V, k, beta1, beta2, eps, epsilon,
                                                     corrected)
    den = optimizers.adam_denominator(V, k, beta2, eps, epsilon, corrected)
    if type(den) is not Noisy:
        return out
    c = _ctx()
    spread = np.zeros(den.shape)
    t = _settled_t(den)
    if t is not None and c.K:
        spread = c.reach * response_norm(t) / math.sqrt(c.K)
    if den.j is not None:
        spread = spread + den.j
    with np.errstate(divide="ignore", invalid="ignore"):
        lost = ~(spread < bounds.NO_DIGIT * np.abs(den.b))
    if lost.any():
        out.j = add_terms(out.j, np.where(lost, np.inf, 0.0))
    return out


def _interpolation(S, x, beta):
    """The route of Keras and TensorFlow's ApplyAdam, S + (x - S)(1 - beta): its subtraction
    and product round at |x - S| and |(x - S)(1 - beta)|, which the reference's route never
    forms, one more independent event of their size (as bounds._first_moment)."""
    gap = np.abs(np.asarray(_b(x), dtype=np.float64) - _b(S))
    c = abs(1 - float(_b(beta)))
    return gap * (1 + c)


@optimizers.first_moment.register(Noisy)
def _first_moment(M, dP, beta1):
    out = optimizers.first_moment.dispatch(object)(M, dP, beta1)
    return _also(out, _low(_interpolation(M, dP, beta1)))


@optimizers.second_moment.register(Noisy)
def _second_moment(V, dP, beta2):
    out = optimizers.second_moment.dispatch(object)(V, dP, beta2)
    return _also(out, _low(_interpolation(V, _b(dP) * _b(dP), beta2)))


def response_norm(t) -> np.ndarray:
    """sqrt(sum over the responses of each element's squared response) (axis 0 of the
    tangents `t`), in units of u, scaled so that nothing underflows where the responses do
    not (a float64 value of 1e-186 has responses of that size, whose squares would be 0);
    inf where a response overflows: no statement there."""
    t = np.asarray(t)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scale = np.max(np.abs(t), axis=0).astype(np.float64)
        safe = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
        q = np.square(t / safe.astype(t.dtype), dtype=np.float64).sum(axis=0)
        return np.where(np.isfinite(scale), scale * np.sqrt(q), np.inf)


# --- The probabilistic level of a case's step-0 values -----------------------------------------

# K_SAMPLES, responses per value at step 0, and K_STEP, per update, are protocol.cost's: the
# memory estimate checked before any work counts them.
P_RUN = 1e-9         # the probability that a correct pair fails at this level, per pair and case
SEED = 0


def widening(case, dtype: str) -> float:
    """The tangents' own rounding (in the dtype judged): each layer's sums of n terms move a
    response by n u sum|terms| at most, and sum|terms| <= sqrt(n) times their root mean
    square, which sigma_hat estimates; over the L layers, sigma_hat by a relative
    L n^(3/2) u at most. The bound is widened by that factor (6e-3 for float32 at width
    1,024; TOLERANCES.md, "How the responses are computed")."""
    n = max(max(case.layers), case.m) + 1
    return 1 + (len(case.layers) - 1) * n ** 1.5 * float(np.finfo(dtype).eps) / 2


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


def _group(params, layers, m: int, K: int, dtype: str) -> int:
    """How many responses to compute at once: about GROUP_BYTES of tangents alive
    (protocol.cost.group_size)."""
    return group_size(sum(v.size for v in params.values()), layers, m, K,
                      np.dtype(dtype).itemsize)


def measure(evaluate, K: int, G: int, reach: float, dtype: str) -> tuple[dict, dict, dict]:
    """Run `evaluate()` (inside a context; it returns {name: value}) for K responses, then once
    more without responses to decide, from all K, which decisions lie within reach and carry
    their jumps. The passes share one tape: each matrix product's exact value and size are
    computed once. The first pass counts who consumes each value; where the responses take
    more than one pass (G at a time), it computes one response and the later passes draw
    events late (see "Events drawn late"), and where there are decisions a last pass
    without responses carries their jumps. Returns ({name: the root sum of squared responses
    (`response_norm`), None for a value no rounding reached}, {name: J or None},
    {name: exact value})."""
    tape, uses, ss = [], {}, {}
    sizes = [K] if K <= G else [1] + [min(G, K - 1 - i) for i in range(0, K - 1, G)]
    g0 = 0
    for i, k in enumerate(sizes):
        # one pass holds all K: its decisions see every response, and it carries the jumps
        with np.errstate(all="ignore"), context(k, SEED + g0, reach, dtype, tape,
                                                jumps=len(sizes) == 1, uses=uses,
                                                record=i == 0):
            values = evaluate()
            for v in values.values():  # returned: consumed once more, and drawn now
                _settled(v)
        for name, v in values.items():  # None: no rounding reached it (a frozen parameter)
            if type(v) is Noisy and v.t is not None:
                ss[name] = _rss(ss.get(name), response_norm(v.t))
            else:
                ss.setdefault(name, None)
        g0 += k
        if i < len(sizes) - 1:
            del values
    if len(sizes) > 1 and any(key[0] in ("compare", "round") for key, _ in tape):
        with np.errstate(all="ignore"), context(0, SEED, reach, dtype, tape, jumps=True):
            values = evaluate()  # the jumps, from every decision's K responses
    J = {name: v.j if type(v) is Noisy else None for name, v in values.items()}
    base = {name: v.b if type(v) is Noisy else np.asarray(v) for name, v in values.items()}
    return ss, J, base


def initial_units(case, dtype: str) -> dict:
    """The probabilistic bound of the step-0 gradients and the initial A[L] of the float64
    `case` (the oracle's), for comparisons whose lower precision is `dtype`: per value,
    S = factor * sigma_hat * sqrt(D) in units of u (a pair's bound is (u_a + u_b) gamma S)
    and J, the jumps of decisions within reach (absolute). An element below the dtype's
    smallest normal number times the longest sum may underflow, which the model does not
    cover: its S is inf there (the worst-case level alone decides)."""
    with precision.policy(case.precision):
        return _initial_units(case, dtype)


def _initial_units(case, dtype):
    X, Y, params = training.cast(case)
    _, first = case.update_batches()
    level = Level(K_SAMPLES, P_RUN, judged_elements(case))
    u = float(np.finfo(dtype).eps) / 2
    G = _group(params, case.layers, case.m, K_SAMPLES, dtype)

    def evaluate():
        P = {name: exact(v) for name, v in params.items()}
        grads = training.initial_gradients(P, X[:, first], Y[:, first], case.activations,
                                           case.loss, case.reduction)
        AL, _ = network.forward_propagation(X, P, case.activations)
        return {f"d{n}": v for n, v in grads.items()} | {"initial A[L]": AL}
    ss, J, ref = measure(evaluate, K_SAMPLES, G, level.factor * 2 * u, dtype)
    D = duplicates(case, X[:, first], params)
    n = max(max(case.layers), case.m) + 1
    tiny = float(np.finfo(dtype).tiny) * n
    S = {}
    for name in ss:
        if ss[name] is None:  # no response reaches it: rounded to a low dtype away from
            S[name] = np.zeros(np.shape(ref[name]))  # every boundary (J has the others)
            continue
        s = level.factor * widening(case, dtype) * ss[name] * math.sqrt(D / K_SAMPLES)
        S[name] = np.where(np.abs(ref[name]) < tiny, np.inf, s)
    return {"S": S, "J": {k: (np.zeros(S[k].shape) if v is None else v) for k, v in J.items()},
            "p": P_RUN, "factor": level.factor, "K": K_SAMPLES, "D": D, "N": level.N}


def step_units(case, dtype: str, K: int, N: int | None = None) -> dict:
    """The probabilistic level of a one-update case from exact parameters (local judging):
    S and J (as `initial_units`) of the gradients at the parameters the update starts from
    ("dW1", ...), of the loss before the update ("losses", with inf for the final loss, which
    the worst-case level judges) and of every parameter after it ("final W1", ...), from K
    responses of the update step. In the simultaneous schedule the gradients are the
    update's own (one evaluation); in the sequential one, whose update takes each layer's
    delta through the updated W[l], they are evaluated beside it. N: the union bound's count
    (`judged_elements` of the whole trajectory this update belongs to, so that p holds for
    the trajectory; by default the one-update case's own). With an optimizer, a schedule,
    decay or clipping the update is the reference's (reference/optimizers.py) from the state
    the case resumes, and its slots have values of their own ("final M[W1]", ...); the
    optimizer's own roundings, the hyperparameters' and lr_t's included, are added to J at
    their worst case (`bounds.update_units`): a hyperparameter's rounding is one error shared
    by every element and every update, not an independent event (TOLERANCES.md,
    "Optimizers")."""
    with precision.policy(case.precision):
        return _step_units(case, dtype, K, N)


def _step_units(case, dtype, K, N):
    X, Y, params = training.cast(case)
    (idx,), _ = case.update_batches()
    level = Level(K, P_RUN, judged_elements(case) if N is None else N)
    u = float(np.finfo(dtype).eps) / 2
    step = training.STEPS[case.schedule]
    m = X[:, idx].shape[1]
    G = _group(params, case.layers, m, K, dtype)
    Xb, Yb, net = X[:, idx], Y[:, idx], (case.activations, case.loss, case.reduction)
    start, state = bounds.starting_state(case, params)
    lr = optimizers.learning_rate(case.lr_schedule, case.lr, start)

    def evaluate():
        P = {name: exact(v) for name, v in params.items()}
        slots = {}
        if case.schedule == "simultaneous":  # the update's own gradients
            value, grads = network.backward_propagation(Xb, Yb, P, *net, input_grad=False)
            if case.stateful:  # the optimizer's update, its state included
                new, after = optimizers.optimizer_update(
                    P, grads, map_state(state, exact), case.optimizer, case.clip, lr,
                    case.trainable_names)
                slots = {f"final {s}[{k}]": x for s, d in after.items() if s != "step"
                         for k, x in d.items()}
            else:
                new = training.update_parameters(P, grads, lr, case.trainable_names)
        else:
            value, new = step(P, Xb, Yb, *net, case.lr, case.trainable_names)
            _, grads = network.backward_propagation(Xb, Yb, P, *net, input_grad=False)
        return ({f"d{k}": grads[f"d{k}"] for k in params} | {"losses": value}
                | {f"final {k}": x for k, x in new.items()} | slots)
    ss, J, base = measure(evaluate, K, G, level.factor * 2 * u, dtype)
    if not case.plain:  # the optimizer's own roundings, hyperparameters included, worst case
        n = max(max(case.layers), case.m) + 1
        grads = {f"d{k}": base[f"d{k}"] for k in params}  # the exact gradients, measured
        for name, R in bounds.update_units(case, dtype, params, grads, lr, start,
                                           state).items():
            J[name] = add_terms(J[name], 2 * u / (1 - n * u) * R)
    D = duplicates(case, X[:, idx], params)
    n = max(max(case.layers), case.m) + 1
    tiny = float(np.finfo(dtype).tiny) * n
    S = {}
    for name, v in base.items():
        J[name] = np.zeros(np.shape(v)) if J[name] is None else J[name]
        if ss[name] is None:  # a frozen parameter: returned as it came, exactly
            S[name] = np.zeros(np.shape(v))
            continue
        s = level.factor * widening(case, dtype) * ss[name] * math.sqrt(D / K)
        S[name] = np.where(np.abs(v) < tiny, np.inf, s)
    S["losses"] = np.array([float(S["losses"]), np.inf])
    J["losses"] = np.array([float(J["losses"]), 0.0])
    return {"S": S, "J": J, "p": P_RUN, "factor": level.factor, "K": K, "D": D, "N": level.N}
