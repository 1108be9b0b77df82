"""A-priori rounding bounds of the reference's own formulas, computed beside their values.

`Traced` is an array that carries, beside its value v, a bound e >= 0 of the same shape: any
implementation that evaluates the same formula in floating point with unit roundoff u (2^-53
for float64, 2^-24 for float32) gets |computed - v| <= u * e, to first order in u (Higham,
"Accuracy and Stability of Numerical Algorithms", ch. 2-3). The reference's functions in
reference/activations.py, losses.py and network.py run unchanged on Traced arrays (the tracing
shell, comparisons/judge/tracing.py, over NumPy's __array_ufunc__ protocol), so the bound of every value is derived from the very formula that
computes it and from the magnitudes of its terms, not from the size of its result:

    x ± y          e = e_x + e_y + |x ± y|                 (one rounding)
    x · y          e = |y| e_x + |x| e_y + |x y| + u e_x e_y
    x / y          e = (e_x + |x/y| e_y) / (|y| - u e_y) + |x/y|
    A @ B, n-long  e = n |A| @ |B| + |A| @ e_B + e_A @ |B| + u e_A @ e_B  (gamma_n, any order)
    sum of n       e = (n - 1) sum |x| + sum e_x
    exp, log, log1p, tanh: the propagated error max |f'| over x -+ u e_x, times e_x (the
                   mean-value bound, `steepest`), plus C_ELEMENTARY |f(x)|
    max, min, abs: the error of the selected operand
and a rounding whose result lies below the dtype's smallest normal number, tiny, may underflow
(fl(x op y) = (x op y)(1 + d) + h, |h| <= tiny, flush-to-zero included): there it adds
tiny / u (n tiny / u for a sum of n), unless its operands make it an exact zero. A float32
sigmoid of -120 is 0, not 4e-53.
A Python scalar operand of x or / may itself be rounded to the computation's dtype (lr, 1/m,
the leaky slope in float32): one more rounding, |result|.

Other routes. Where frameworks evaluate a formula by a different but standard route whose
rounding the reference's own route does not show, the traced formula adds that route's bound.
Two formulas need it. The output delta of bce and cce from the logits: autodiff of
log_sigmoid / log_softmax (JAX, optax) computes it as (1 - y) sigma(z) - y sigma(-z), and
softmax(z) - y, through exp(z - logsumexp(z)), whose argument carries u |z|: relative error
(C_ELEMENTARY + 2 max|z|) on each term, where the reference's sigma(z) - 1 has one rounding.
And softplus, which frameworks evaluate as one elementary function: C_ELEMENTARY |softplus|
plus the propagated sigma(z) e_z, where the reference's max(z, 0) + log1p(...) rounds once.
And tanh', which autodiff may evaluate as 1 / cosh(z)^2 (HIPS autograd): cosh to C_ELEMENTARY,
squared and divided, (2 C_ELEMENTARY + 2) |tanh'|, where the reference's 1 - tanh(z)^2 has
(for |z| < 1) a bound of a few u.

Kinks. A decision x > y is within reach of rounding where its margin |x - y| / (u (e_x + e_y))
is small: another correct implementation may decide it the other way.
- Discontinuous decisions (a 0/1 mask such as relu', a branch of np.where such as
  leaky_relu'): where the margin is <= 1, the value may jump, by 1 for a mask and by the gap
  between the branches for np.where, and that is added to its bound. Every margin is also
  logged (`margins`): in training, inputs drift by up to (1 + kappa) times their bound, and the
  judge compares a trajectory only up to the first update whose smallest margin is
  <= 1 + kappa, after which two correct runs may differ by a flip (TOLERANCES.md).
- Continuous selections (max, min: relu, the max(Z, 0) of bce) never jump: within reach
  KAPPA_MAX of their threshold either operand's error counts.
Exactly computed values (e = 0) are never ambiguous: relu'(0) of a Z that every implementation
computes exactly as 0 is a convention, and conventions must agree.

It holds no formula of the forward or backward pass, only the rounding rules of NumPy's
elementary operations: the formulas are the reference's own. TOLERANCES.md gives the argument.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses

import numpy as np

from comparisons.protocol import TrainResult
from comparisons.protocol.case import map_state
from reference import activations, losses, network, optimizers, precision, training

from .tracing import Shell, add_terms, install_operators, like, scoped

# Each elementary function (exp, log, log1p, tanh) is assumed accurate to 8 ulp = 16 u of its
# result. Measured worst over every implementation here (tests/test_bounds.py): 7 u (XLA's
# float64 tanh); glibc and SLEEF document <= 1 and <= 3.5 ulp.
C_ELEMENTARY = 16.0
UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24}
# The largest trajectory amplification that is judged, per dtype: u * kappa <= 2^-33 in
# float64, 2^-14 in float32; beyond it a trajectory's bound no longer tells a bug from
# rounding (TOLERANCES.md). Also the reach of rounding at a kink during training.
KAPPA_MAX = {"float64": 2.0 ** 20, "float32": 2.0 ** 10}


@dataclasses.dataclass
class Context:
    """The unit roundoff whose kinks count (that of the lowest precision being compared), the
    smallest margin of a discontinuous decision and the largest reach of a sum (`_note_reach`)
    since the last `reset`. With `steps` = S > 0, every traced array carries a leading axis of
    S independent evaluations (see `stacked`) and min_margin and max_reach are per
    evaluation, shape (S,)."""

    dtype: str = "float64"
    min_margin: float | np.ndarray = float("inf")
    steps: int = 0
    max_reach: float | np.ndarray = 0.0

    def __post_init__(self):
        if self.steps:
            self.max_reach = np.zeros(self.steps)

    @property
    def u(self) -> float:
        return UNIT_ROUNDOFF[self.dtype]

    @property
    def tiny(self) -> float:
        return float(np.finfo(self.dtype).tiny)

    def reset(self) -> float | np.ndarray:
        """Start a new evaluation; returns the smallest margin of the one that ends (its
        max_reach is read before)."""
        m = self.min_margin
        self.min_margin = np.full(self.steps, np.inf) if self.steps else float("inf")
        self.max_reach = np.zeros(self.steps) if self.steps else 0.0
        return m


_CONTEXT: contextvars.ContextVar[Context] = contextvars.ContextVar("bounds", default=Context())


def _underflow(e, r, inexact=True, n=1):
    """Add n tiny / u to the bound e where the result r lies below tiny and `inexact` (a mask,
    or True) says it is not an exact zero (see the module docstring). In place."""
    ctx = _CONTEXT.get()
    low = np.abs(r) < n * ctx.tiny
    if low.any():
        e += (n * ctx.tiny / ctx.u) * (low & inexact)
    return e




def context(dtype: str):
    """Trace with the kinks of `dtype` (the lowest precision being compared)."""
    return scoped(_CONTEXT, Context(dtype))


@contextlib.contextmanager
def stacked(steps: int):
    """Trace S = `steps` evaluations of one formula at once: every Traced array holds them
    along a leading axis, which its shape, ndim, size, T, sum and max do not show, so the
    reference's functions, written for one (n, m) evaluation, run unchanged on all S. Each
    NumPy call then does S evaluations' work: what makes tracing every update of a
    10,000-update run cost about as much as the run itself."""
    outer = _CONTEXT.get()
    with scoped(_CONTEXT, Context(outer.dtype, np.full(steps, np.inf), steps)) as ctx:
        yield ctx


def _lead() -> int:
    return 1 if _CONTEXT.get().steps else 0


def _axes(axis, ndim):
    """A logical axis argument (None, or one axis) as the axis of the stored array."""
    if not _CONTEXT.get().steps:
        return axis
    if axis is None:
        return tuple(range(1, ndim))
    return axis + 1 if axis >= 0 else axis


def _parts(x):
    """(value, bound or None for exact, is_scalar_constant)."""
    if type(x) is Traced:
        return x.v, x.e, False
    if isinstance(x, np.ndarray):
        return x, None, False
    if isinstance(x, TracedBool):
        raise TypeError("a comparison result is used as a number; call .astype first")
    return x, None, True  # a Python or NumPy scalar


def _margin(va, ea, vb, eb):
    """|a - b| / (u (e_a + e_b)): how far a comparison is from its threshold, in units of its
    rounding bound (inf where both sides are exact); None if every element is exact."""
    e = add_terms(ea, eb)
    if e is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(e > 0, np.abs(va - vb) / (_CONTEXT.get().u * e), np.inf)
    return np.where(np.isnan(e), 0.0, m)  # a NaN bound: nothing known, at the threshold


def _ambiguous(va, ea, vb, eb, reach):
    """Where a comparison of a and b is within `reach` of its threshold."""
    e = add_terms(ea, eb)
    if e is None:
        return None
    amb = np.abs(va - vb) <= (reach * _CONTEXT.get().u) * e
    amb |= np.isnan(e)  # a NaN bound: nothing known, within reach
    if not amb.any():
        return None
    amb &= (e > 0) | np.isnan(e)
    return amb if amb.any() else None


def _jump(margin, gap):
    """The bound added by a discontinuous decision: `gap` (in absolute terms) where the
    margin is <= 1; logs the smallest margin where the two sides differ."""
    if margin is None:
        return None
    ctx = _CONTEXT.get()
    differs = np.broadcast_to(gap, margin.shape) != 0
    if differs.any():
        if ctx.steps:  # the smallest margin of each evaluation
            per_step = np.where(differs, margin, np.inf).reshape(ctx.steps, -1).min(axis=1)
            np.minimum(ctx.min_margin, per_step, out=ctx.min_margin)
        else:
            ctx.min_margin = min(ctx.min_margin, float(margin[differs].min()))
    flip = (margin <= 1.0) & differs
    return np.where(flip, gap, 0.0) / ctx.u if flip.any() else None  # never 0 * inf


class Traced(Shell):
    """A value and its first-order rounding bound in units of u; e = None means exact."""

    __slots__ = ("v", "e")
    level = "comparisons.judge.bounds"

    def __init__(self, v, e=None):
        if type(v) is not np.ndarray:
            v = np.asarray(v)
        if e is not None and e.shape != v.shape:
            e = np.broadcast_to(e, v.shape)
        self.v, self.e = v, e

    # --- array-like attributes (of one evaluation: see `stacked`) ------------------------
    shape = property(lambda self: self.v.shape[_lead():])
    dtype = property(lambda self: self.v.dtype)
    ndim = property(lambda self: self.v.ndim - _lead())
    size = property(lambda self: int(np.prod(self.shape)))

    @property
    def bound(self) -> np.ndarray:
        return np.zeros(self.v.shape) if self.e is None else np.asarray(self.e, dtype=np.float64)

    @property
    def T(self):
        if _lead():
            return Traced(self.v.swapaxes(-1, -2), None if self.e is None else self.e.swapaxes(-1, -2))
        return Traced(self.v.T, None if self.e is None else self.e.T)

    def __getitem__(self, idx):
        if _lead():
            raise TypeError(f"{self.level}: indexing a stacked value")
        return Traced(self.v[idx], None if self.e is None else self.e[idx])

    def astype(self, dtype):
        return Traced(self.v.astype(dtype), self.e)

    def sum(self, axis=None, keepdims=False):
        n = self.size if axis is None else self.shape[axis]
        axis = _axes(axis, self.v.ndim)
        terms = np.abs(self.v).sum(axis=axis, keepdims=keepdims)
        r = self.v.sum(axis=axis, keepdims=keepdims)
        e = _underflow((n - 1) * terms, r, terms > 0, n=n)
        if self.e is not None:
            e = e + self.e.sum(axis=axis, keepdims=keepdims)
        return Traced(r, e)

    def max(self, axis=None, keepdims=False):
        axis = _axes(axis, self.v.ndim)
        e = None if self.e is None else self.e.max(axis=axis, keepdims=keepdims)
        return Traced(self.v.max(axis=axis, keepdims=keepdims), e)

    def rounded_to(self, dtype):
        """fl_low(x) (reference.precision.round_to), a decision like a kink: every value
        within u e of x rounds to the reference's r except across a rounding boundary, so the
        result is exact (e = 0) where no boundary lies within reach, and elsewhere it may be
        any low value that a value within reach rounds to: the jump max(fl(x + u e) - r,
        r - fl(x - u e)). Its margin, the distance to the nearest boundary in units of u e, is
        logged as a discontinuous decision's (`_jump`). A reach past the low dtype's range
        (fl = inf) is the range's edge (`_note_reach`)."""
        r = precision.round_to(self.v, dtype)
        if self.e is None:  # an exact input rounds alike everywhere
            return Traced(r)
        ctx = _CONTEXT.get()
        width = ctx.u * np.where(np.isnan(self.e), np.inf, self.e)  # NaN: nothing known
        hi = precision.round_to(self.v + width, dtype)
        lo = precision.round_to(self.v - width, dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.maximum(hi - r, r - lo)
            gap = np.where(np.isnan(gap), np.inf, gap)
            low = precision.LOW[dtype]
            up = np.nextafter(r.astype(low), np.asarray(np.inf, low)).astype(np.float64)
            down = np.nextafter(r.astype(low), np.asarray(-np.inf, low)).astype(np.float64)
            boundary = np.minimum(np.abs(self.v - (r + up) / 2), np.abs(self.v - (r + down) / 2))
            margin = np.where(width > 0, boundary / width, np.inf)
        past = np.isfinite(width) & ~np.isfinite(gap)  # the value's reach passes the range;
        if past.any():  # an unbounded width (no digit left) says nothing of the magnitude
            _note_reach(ctx, np.where(past, np.inf, r), np.where(past, np.inf, 0.0))
        # every element that rounding reaches logs its margin, the near misses (1 < margin <=
        # 1 + kappa) included: a flip there is within reach of a trajectory's rounding
        reached = np.where(width > 0, np.maximum(gap, np.finfo(np.float64).tiny), 0.0)
        jump = _jump(margin, reached)
        return Traced(r.astype(self.v.dtype), jump)

    def __repr__(self):
        return f"Traced({self.v!r}, e={self.e!r})"


class TracedBool(Shell):
    """The result of a comparison: its value and its margin (see `_margin`)."""

    __slots__ = ("v", "margin")
    level = Traced.level

    def __init__(self, v, margin):
        self.v, self.margin = v, margin

    def astype(self, dtype):
        # A 0/1 mask: where it may flip, it is uncertain by 1.
        return Traced(self.v.astype(dtype), _jump(self.margin, 1.0))


# --- Rules for the operations the reference uses -----------------------------------------
# Written for speed on tiny arrays, where each NumPy call costs more than its arithmetic:
# bounds accumulate in place in a fresh array.

def _add_sub(op):
    def rule(a, b):
        va, ea, _ = _parts(a)
        vb, eb, _ = _parts(b)
        r = op(va, vb)
        e = _underflow(np.abs(r), r, (va != 0) | (vb != 0))
        if ea is not None:
            e += ea
        if eb is not None:
            e += eb
        return Traced(r, e)
    return rule


def _times(x, e):
    """|x| e, the error e carried through a factor x: 0 where x is 0, whatever e is (an exact
    zero times any value is 0; where x is an inexact 0, the second-order term u e_x e_y
    carries it), so that an unbounded e (no digit left) times a 0 is not a NaN, which a later
    comparison would read as no error at all."""
    with np.errstate(invalid="ignore"):
        out = x * e
    return np.where(x == 0, 0.0, out) if np.isnan(out).any() else out


def _multiply(a, b):
    va, ea, ca = _parts(a)
    vb, eb, cb = _parts(b)
    r = va * vb
    e = np.abs(r)
    if ca or cb:
        e *= 2.0
    _underflow(e, r, (va != 0) & (vb != 0))
    if ea is not None:
        e += _times(np.abs(vb), ea)
    if eb is not None:
        e += _times(np.abs(va), eb)
    if ea is not None and eb is not None:
        # the second-order term |dx dy| <= u^2 e_x e_y: negligible unless both factors are
        # near 0 with large bounds (a saturated sigma' times a delta that is 0 in the
        # reference, where the first-order terms vanish; found by the nightly campaign)
        e += _CONTEXT.get().u * _times(ea, eb)
    return Traced(r, e)


def _divide(a, b):
    va, ea, ca = _parts(a)
    vb, eb, cb = _parts(b)
    r = va / vb
    ar = np.abs(r)
    e = _underflow(2.0 * ar if (ca or cb) else ar.copy(), r, va != 0)
    if ea is not None or eb is not None:
        prop = ea if eb is None else (_times(ar, eb) if ea is None else ea + _times(ar, eb))
        den = np.abs(vb)
        if eb is not None:  # |x'/y' - x/y| <= (dx + |x/y| dy) / (|y| - dy): exact, any dy
            den = den - _CONTEXT.get().u * eb
            den = np.where(den > 0, den, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            e += np.where(np.isnan(prop) | np.isnan(den), np.inf,  # nothing known: unbounded
                          np.where(prop > 0, prop / den, 0.0))
    return Traced(r, e)


def _sqrt(a):
    """sqrt(v), correctly rounded (|r|), and the exact worst case of |sqrt(v') - sqrt(v)| over
    |v' - v| <= d = u e_v, v' >= 0 (a sum of squares, or one plus eps): d / (sqrt(v) +
    sqrt(v - d)) where d <= v, which grows with d no faster than linearly, so a pair of any
    two dtypes stays within (u_a + u_b) e; where d > v no digit of v is left, and the bound
    sqrt(v + d) is not linear in u: counted twice, so that each side of a pair, whose own d
    is at most the context's, stays within u e / 2 (TOLERANCES.md, "Optimizers")."""
    va, ea, _ = _parts(a)
    r = np.sqrt(va)
    e = np.abs(r)
    if ea is None:
        return Traced(r, e)
    u = _CONTEXT.get().u
    d = u * ea
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = d / (r + np.sqrt(np.maximum(va - d, 0.0)))
        lost = 2.0 * np.sqrt(va + d)
    return Traced(r, e + np.where(d <= va, np.where(d > 0, linear, 0.0), lost) / u)


def _power(a, b):
    """x ** p for a constant exponent p (beta ** k, c ** 0.5): the propagated |p r / x| e_x,
    and the function's own C_ELEMENTARY |r| (a library pow; repeated products round fewer
    times)."""
    va, ea, _ = _parts(a)
    vb, eb, cb = _parts(b)
    if eb is not None or not cb:
        raise TypeError(f"{Traced.level}: no rounding rule for a power with a traced exponent")
    r = np.power(va, vb)
    e = C_ELEMENTARY * np.abs(r)
    if ea is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            e = e + np.where(va != 0, np.abs(vb * r / np.where(va != 0, va, 1.0)), 0.0) * ea
    return Traced(r, e)


def steepest(name: str, v, d):
    """The largest |f'| over [v - d, v + d] for f = exp, log, log1p, tanh (inf where the
    interval reaches a pole): the mean-value bound |f(v') - f(v)| <= steepest * |v' - v|.
    At the first order in u it is |f'(v)|; it matters where d is not small, as after a
    rounding to bfloat16 may jump a whole low unit (Traced.rounded_to), where f' at v alone
    falls short by the second-order term (found by the drawn-policy campaign: tanh after a
    jump of Z[L], error/bound 1.01)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if name == "exp":
            return np.exp(v + d)
        if name == "tanh":
            t = np.tanh(np.maximum(np.abs(v) - d, 0.0))
            return 1 - t * t
        low = (v if name == "log" else 1 + v) - d
        return np.where(low > 0, 1 / np.where(low > 0, low, 1.0), np.inf)


def _exact_unary(op):
    def rule(a):
        va, ea, _ = _parts(a)
        return Traced(op(va), ea)
    return rule


def _exp(a):
    va, ea, _ = _parts(a)
    r = np.exp(va)
    e = _underflow(C_ELEMENTARY * r, r)
    if ea is not None:
        e += steepest("exp", va, _CONTEXT.get().u * ea) * ea
    return Traced(r, e)


def _log(a):
    va, ea, _ = _parts(a)
    r = np.log(va)
    e = _underflow(C_ELEMENTARY * np.abs(r), r, va != 0)
    if ea is not None:
        e += steepest("log", va, _CONTEXT.get().u * ea) * ea
    return Traced(r, e)


def _log1p(a):
    va, ea, _ = _parts(a)
    r = np.log1p(va)
    e = _underflow(C_ELEMENTARY * np.abs(r), r, va != 0)
    if ea is not None:
        e += steepest("log1p", va, _CONTEXT.get().u * ea) * ea
    return Traced(r, e)


def _tanh(a):
    va, ea, _ = _parts(a)
    r = np.tanh(va)
    e = _underflow(C_ELEMENTARY * np.abs(r), r, va != 0)
    if ea is not None:
        e += steepest("tanh", va, _CONTEXT.get().u * ea) * ea
    return Traced(r, e)


def _select(op, pick_a):
    def rule(a, b):
        va, ea, _ = _parts(a)
        vb, eb, cb = _parts(b)
        r = op(va, vb)
        if ea is None and eb is None:
            return Traced(r)
        reach = KAPPA_MAX[_CONTEXT.get().dtype]  # continuous: no jump, only drifting inputs
        if eb is None and cb:  # against a constant (relu's 0): a's error where a is picked
            e = np.where(pick_a(va, vb), ea, 0.0)
            amb = _ambiguous(va, ea, vb, None, reach)
            return Traced(r, e if amb is None else np.where(amb, ea, e))
        za, zb = (np.zeros(r.shape) if e is None else e for e in (ea, eb))
        e = np.where(pick_a(va, vb), za, zb)
        amb = _ambiguous(va, ea, vb, eb, reach)
        if amb is not None:  # either side may be selected: both errors count
            e = np.where(amb, np.maximum(za, zb), e)
        return Traced(r, e)
    return rule


def _compare(op):
    def rule(a, b):
        va, ea, _ = _parts(a)
        vb, eb, _ = _parts(b)
        return TracedBool(op(va, vb), _margin(va, ea, vb, eb))
    return rule


def _matmul_bound(x, y):
    """x @ y of two non-negative arrays in which an unbounded element (inf: no digit left)
    meets exact zeros: each such term is 0 (an exact 0 times any value), never the NaN that
    0 * inf makes; a sum with an unbounded term that meets a nonzero one is inf."""
    unbounded = [np.isinf(z) for z in (x, y)]
    if not (unbounded[0].any() or unbounded[1].any()):
        return x @ y
    finite = [np.where(u, 0.0, z) for u, z in zip(unbounded, (x, y))]
    out = finite[0] @ finite[1]
    reaches = (unbounded[0].astype(np.float64) @ (y > 0)) + ((x > 0) @ unbounded[1].astype(np.float64))
    return np.where(reaches > 0, np.inf, out)


def _matmul(a, b):
    """n |A| @ |B| + e_A @ |B| + |A| @ e_B + u e_A @ e_B (the second-order term, as for x * y),
    in as few products as the operands allow: (n |A| + e_A) @ |B| + (|A| + u e_A) @ e_B."""
    va, ea, _ = _parts(a)
    vb, eb, _ = _parts(b)
    r = va @ vb
    n, ctx = va.shape[-1], _CONTEXT.get()
    aa, ab = np.abs(va), np.abs(vb)
    if eb is None:
        e = _matmul_bound(n * aa if ea is None else n * aa + ea, ab)
    elif ea is None:
        e = _matmul_bound(aa, n * ab + eb)
    else:
        e = _matmul_bound(n * aa + ea, ab)
        e += _matmul_bound(aa + ctx.u * ea, eb)
    low = np.abs(r) < n * ctx.tiny
    if low.any():  # underflow (rare): where the product of |A| and |B| is not an exact zero
        _underflow(e, r, (aa @ ab) > 0, n=n)
    _note_reach(ctx, r, e)
    return Traced(r, e)


def _note_reach(ctx, r, e):
    """Log the largest bound of a sum's elements (~ n times the magnitude of its terms): where
    it comes within n of a dtype's largest number, whether the sum overflows depends on the
    order of its terms (parity.edge). A bound made infinite by an operand's bound (an Adam
    denominator with no digit left) while the sum itself is finite says nothing of its
    magnitude and is not counted; an infinite sum is."""
    axis = tuple(range(1, e.ndim)) if ctx.steps else None
    m = e.max(axis=axis)
    if not np.all(np.isfinite(m)):
        with np.errstate(invalid="ignore"):
            m = np.where(np.isfinite(e), e, np.where(np.isfinite(r), 0.0, np.inf)).max(axis=axis)
    if ctx.steps:
        np.maximum(ctx.max_reach, m, out=ctx.max_reach)
    else:
        ctx.max_reach = max(ctx.max_reach, float(m))


Traced.ufunc_rules = {
    np.add: _add_sub(np.add), np.subtract: _add_sub(np.subtract),
    np.multiply: _multiply, np.true_divide: _divide,
    np.negative: _exact_unary(np.negative), np.positive: _exact_unary(np.positive),
    np.absolute: _exact_unary(np.absolute),
    np.exp: _exp, np.log: _log, np.log1p: _log1p, np.tanh: _tanh,
    np.maximum: _select(np.maximum, np.greater_equal),
    np.minimum: _select(np.minimum, np.less_equal),
    np.greater: _compare(np.greater), np.greater_equal: _compare(np.greater_equal),
    np.less: _compare(np.less), np.less_equal: _compare(np.less_equal),
    np.matmul: _matmul, np.sqrt: _sqrt, np.power: _power,
}


install_operators(Traced)


def _where(cond, x, y):
    """A branch: the selected side's error, and where the decision may flip, the other
    side's error and the gap between the sides."""
    c, margin = (cond.v, cond.margin) if isinstance(cond, TracedBool) else (np.asarray(cond), None)
    vx, ex, cx = _parts(x)
    vy, ey, cy = _parts(y)
    # A scalar branch (leaky_relu's slope) is rounded to the computation's dtype: one rounding.
    ex = np.abs(vx) if cx else ex
    ey = np.abs(vy) if cy else ey
    r = np.where(c, vx, vy)
    jump = _jump(margin, np.abs(np.asarray(vx, dtype=np.float64) - vy))
    if ex is None and ey is None and jump is None:
        return Traced(r)
    zx, zy = (np.zeros(r.shape) if e is None else e for e in (ex, ey))
    e = np.where(c, zx, zy)
    if jump is not None:
        e = np.where(jump > 0, np.maximum(zx, zy) + jump, e)
    return Traced(r, e)


def _value(a):
    return a.v if isinstance(a, Traced) else a  # a constant, exactly


Traced.function_rules = TracedBool.function_rules = {
    np.where: _where, np.ones_like: like(np.ones_like, _value),
    np.zeros_like: like(np.zeros_like, _value)}


def exact(a) -> Traced:
    """An input of the computation: exact (its bound is 0)."""
    return Traced(a)


def split(x):
    """(value, bound) of a Traced, a plain array (bound 0) or a dict of either."""
    if isinstance(x, dict):
        pairs = {k: split(v) for k, v in x.items()}
        return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
    if isinstance(x, Traced):
        return x.v, x.bound
    a = np.asarray(x)
    return a, np.zeros(a.shape)


# Memory for tracing a chunk of updates at once: S updates of P parameters and of batch
# activations A, about TRACE_COPIES arrays of S (P + A) floats alive at once, values and bounds.
TRACE_BYTES = 64 * 2 ** 20
TRACE_COPIES = 40


def train(case, perturb=None):
    """The reference's run, `reference.training.train`: the same steps, so the same values
    (bit for bit: tests/test_bounds.py), and beside them `result.bounds`, the unit of rounding
    of every returned value, in units of u, from the reference's formulas on Traced arrays:

    gradients, initial_outputs: their a-priori bound E (one evaluation, exact inputs).
    losses[t]: E of evaluating the loss at step t, plus the rounding of the update before it
        seen through this step's gradient, sum |g_t| R_(t-1) (R: an update's own bound).
    final_params: the largest R of that parameter's updates over the run.
    carried: per parameter, sqrt(sum over its updates of R^2): the rounding its updates leave
        behind if each is carried to the end with gain 1 (the identity term of W - lr dW) and
        they add like independent errors (comparisons.judge.parity.amplification's floor).
    final_outputs: E of the final forward pass with the last update's R on the parameters.
    margins[t]: the smallest margin of a discontinuous decision in update t (inf: none).
    reach[t]: the largest bound of a sum's elements in update t, the final evaluation last
        (Context._note_reach): where the values approach the float range's edge (parity.edge).
    initial_reach: the same of the step-0 values (gradients, A[L] on all of X).
    horizon: the first update whose rounding bound, u R, reaches the size of a parameter
        tensor's values (max |R| u >= max |p|): from there the bound has lost every digit and
        the trajectory cannot be judged (None: never).

    Each update's bound starts afresh from exact parameters; what rounding accumulates over
    the updates is measured by the amplification kappa (comparisons.judge.parity.amplification).
    With `perturb`, the returned values are those of a second run in which `perturb(params,
    R)` is applied after every update, R that update's bound in the first (unperturbed) run.

    The updates are traced in chunks, all updates of a chunk with the same batch size at
    once (`stacked`), from the parameters the plain run passed through: tracing costs about
    what the plain run costs, not ten times as much. A reduced-precision policy rounds where
    it says (reference/precision.py; `Traced.rounded_to`)."""
    with precision.policy(case.precision):
        out = _train(case, perturb)
    if case.precision is not None and case.updates:
        # every update rounds the float32 master weights to the compute dtype, and two correct
        # runs, whose weights differ by rounding from update 1 on, may round them apart: a
        # decision at every update that tracing each update from exact weights cannot see
        out.bounds["margins"] = np.zeros_like(out.bounds["margins"])
    return out


def _train(case, perturb):
    if not case.plain:
        return _train_beyond_sgd(case, perturb)
    X, Y, params = training.cast(case)
    net = (case.activations, case.loss, case.reduction)
    step = training.STEPS[case.schedule]
    trainable = case.trainable_names
    batches, first = case.update_batches()
    initial_outputs, gradients, initial_reach = _initial_evaluation(case, X, Y, params, first)
    n = case.updates
    losses, units, margins, reach = np.empty(n + 1), np.empty(n + 1), np.empty(n), np.empty(n + 1)
    param_units = {k: np.zeros(v.shape) for k, v in params.items()}
    carried = {k: np.zeros(v.shape) for k, v in params.items()}  # sum of R^2 over updates
    R, horizon, u = None, None, _CONTEXT.get().u
    chunk = _chunk_size(case)
    base = run = params
    for start in range(0, n, chunk):
        idxs = batches[start:start + chunk]
        states = [base]
        for j, idx in enumerate(idxs):
            value, base = step(base, X[:, idx], Y[:, idx], *net, case.lr, trainable)
            states.append(base)
            if perturb is None:
                losses[start + j] = value
        E_loss, Rs, margins[start:start + len(idxs)], reach[start:start + len(idxs)] = \
            _trace_updates(states[:-1], idxs, X, Y, net, step, case.lr, trainable)
        for j, idx in enumerate(idxs):
            i, old, new = start + j, states[j], states[j + 1]
            units[i] = E_loss[j]
            if R is not None:
                units[i] += sum(float(np.sum(np.abs(old[k] - new[k]) * R[k]))
                                for k in trainable) / case.lr
            R = {k: v[j] for k, v in Rs.items()}
            for k in trainable:
                np.maximum(param_units[k], R[k], out=param_units[k])
                carried[k] += R[k] * R[k]
            if horizon is None and any(R[k].max() > 0 and not u * R[k].max() < np.abs(new[k]).max()
                                       for k in trainable if R[k].size):
                horizon = i
            if perturb is not None:  # past the horizon a "small" perturbation no longer exists
                losses[i], run = step(run, X[:, idx], Y[:, idx], *net, case.lr, trainable)
                run = perturb(run, R if horizon is None else {k: 0 * v for k, v in R.items()})
    if perturb is None:
        run = base
    AL, losses[-1], AL_bound, units[-1], reach[-1] = _final_evaluation(case, X, Y, base, R, run,
                                                                        perturb)
    (gradients, g_b), (initial_outputs, in_b) = split(gradients), split(initial_outputs)
    return TrainResult(losses=losses.astype(case.dtype), gradients=gradients,
                       final_params=run, final_outputs=AL, initial_outputs=initial_outputs,
                       bounds={"gradients": g_b, "initial_outputs": in_b, "losses": units,
                               "final_params": param_units, "final_outputs": AL_bound,
                               "carried": {k: np.sqrt(v) for k, v in carried.items()},
                               "margins": margins, "reach": reach,
                               "initial_reach": initial_reach, "horizon": horizon})


# --- Optimizers, schedules, decay and clipping ------------------------------------------------

# An Adam denominator whose bound reaches this fraction of its value has less than one bit
# left: its elements are not judged (TOLERANCES.md, "Optimizers").
NO_DIGIT = 0.5


def _update(case, params, state, Xb, Yb, lr, optimizer, clip):
    """One update of a case beyond plain SGD, as the reference takes it: (loss before the
    update, new params, new state or None)."""
    net = (case.activations, case.loss, case.reduction)
    if case.stateful:
        return optimizers.optimizer_step(params, state, Xb, Yb, *net, lr, case.trainable_names,
                                         optimizer, clip)
    value, new = training.STEPS[case.schedule](params, Xb, Yb, *net, lr, case.trainable_names)
    return value, new, None


def _input(x):
    """A hyperparameter as an input of the computation: rounded once to the dtype computed in
    (|x|), or kept exact where it is 0 (no framework computes with a zero decay)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or x == 0:
        return x
    return Traced(np.float64(x), np.float64(abs(x)))


def hyperparameters(case):
    """The case's optimizer and clipping with every number an input rounded to the dtype
    (`_input`): whether a framework rounds beta2 before 1 - beta2 (Keras keeps it a float32
    variable) or after (torch passes 1 - 0.999 as a double) moves 1 - beta2 by beta2 / (1 -
    beta2) roundings, and the bound must hold either way."""
    trace = lambda d: None if d is None else {k: _input(v) for k, v in d.items()}  # noqa: E731
    return trace(case.optimizer), trace(case.clip)


def schedule_units(lr_schedule, lr: float, t: int) -> float:
    """The rounding bound of update t's rate lr_t (reference.optimizers.learning_rate), in
    units of u, whether a framework computes it in the dtype (Keras, optax in float32) or in
    float64: lr and every hyperparameter rounded once, then each operation of the formula.
        constant: |lr| (lr rounded).
        step, lr gamma^n: lr and gamma rounded (1 + n, gamma^n carries n of gamma's), the
            power (C_ELEMENTARY) and the product: (n + C_ELEMENTARY + 2) |lr_t|.
        warm-up, lr (s0 + (1 - s0) p / w): all terms >= 0, s0 rounded (2 |s0| with its share
            in 1 - s0), three roundings of (1 - s0) p / w and one of the sum, at most 6 f;
            times lr: (6 + 2) |lr_t|.
        cosine, lr (a + (1 - a) g / 2), g = 1 + cos(theta), theta = pi s / D: theta to 3 theta;
            cos to C_ELEMENTARY |cos| plus |sin| 3 theta; g one more rounding; (1 - a) to
            |a| + |1 - a|; the product, the sum with a (rounded) and the product with lr."""
    rate = optimizers.learning_rate(lr_schedule, lr, t)
    name = "constant" if lr_schedule is None else lr_schedule["name"]
    if name == "constant":
        return abs(rate)
    position = t + lr_schedule["offset"]
    if name == "step":
        return (position // lr_schedule["step_size"] + C_ELEMENTARY + 2) * abs(rate)
    if position < lr_schedule["warmup"]:
        return 8 * abs(rate)
    a, D = lr_schedule["final_factor"], lr_schedule["decay_steps"]
    theta = np.pi * min(position - lr_schedule["warmup"], D) / D
    g = 1 + np.cos(theta)
    e_g = C_ELEMENTARY * abs(np.cos(theta)) + abs(np.sin(theta)) * 3 * theta + g
    h = (1 - a) * g / 2
    e_h = (1 - a) / 2 * e_g + g / 2 * (abs(a) + abs(1 - a)) + h
    f = a + h
    return float(abs(lr) * (abs(a) + e_h + f) + 2 * abs(rate))


def starting_state(case, params) -> tuple:
    """(the updates done before the case's first, which position the schedule and the bias
    corrections; the optimizer's state then, float64 arrays, or None for a case without one:
    the case's `initial_state`, or a fresh one)."""
    start = 0 if case.initial_state is None else case.initial_state["step"]
    if not case.stateful:
        return start, None
    if case.initial_state is None:
        return start, optimizers.initial_state(params, case.optimizer, case.trainable_names)
    return start, map_state(case.initial_state, lambda a: np.asarray(a, np.float64))


def update_units(case, dtype: str, params, grads, lr: float, start: int, state) -> dict:
    """The worst-case bound, in units of u, of the roundings of a one-update case's update
    itself, from the exact `grads` ("dW1", ...) at `params`: the optimizer's formulas, lr_t's
    (`schedule_units` at position `start`) and every hyperparameter's (`hyperparameters`), by
    value ("final W1", "final M[W1]", ...). What the gradients' own rounding adds is the
    probabilistic level's (noise.step_units)."""
    with context(dtype), precision.policy(case.precision):
        rate = Traced(np.float64(lr), np.float64(schedule_units(case.lr_schedule, case.lr,
                                                                 start)))
        P = {k: Traced(v) for k, v in params.items()}
        g = {k: Traced(v) for k, v in grads.items()}
        if state is None:
            new, after = training.update_parameters(P, g, rate, case.trainable_names), {}
        else:
            optimizer, clip = hyperparameters(case)
            new, after = optimizers.optimizer_update(P, g, map_state(state, Traced), optimizer,
                                                     clip, rate, case.trainable_names)
    out = {f"final {k}": np.broadcast_to(_bound(x), np.shape(params[k]))
           for k, x in new.items()}
    out |= {f"final {s}[{k}]": np.broadcast_to(_bound(x), np.shape(params[k]))
            for s, d in after.items() if s != "step" for k, x in d.items()}
    return out


def _bound(x):
    return x.bound if isinstance(x, Traced) else np.zeros(np.shape(x))


@optimizers.adam_direction.register(Traced)
def _adam_direction(M, V, k, beta1, beta2, eps, epsilon, corrected):
    """The reference's route, traced, with its division made rigorous: |x'/y' - x/y| <=
    (|dx| + |x/y| |dy|) / (|y| - |dy|), the first-order bound divided by 1 - rho, rho = u e_y
    / |y| of the denominator (adam_denominator); where rho >= NO_DIGIT the denominator, sqrt(V^)
    at the level of rounding, has no digit left, and the element has no bound (inf): not
    judged, never a false alarm (TOLERANCES.md, "Optimizers")."""
    out = optimizers.adam_direction.dispatch(object)(M, V, k, beta1, beta2, eps, epsilon,
                                                     corrected)
    den = optimizers.adam_denominator(V, k, beta2, eps, epsilon, corrected)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = _CONTEXT.get().u * den.bound / np.abs(den.v)
        e = np.where(rho < NO_DIGIT, out.bound / (1 - np.minimum(rho, NO_DIGIT)), np.inf)
    return Traced(out.v, e)


@optimizers.first_moment.register(Traced)
def _first_moment(M, dP, beta1):
    """The reference's route, traced, or the interpolation Keras and TensorFlow's ApplyAdam
    compute, M + (dP - M)(1 - beta1), whichever bound is larger: its subtraction rounds at
    |dP - M|, which the reference's route never forms, and where beta1 < 1/2 and |M| >> |dP|
    that is the larger error (TOLERANCES.md, "Optimizers")."""
    out = optimizers.first_moment.dispatch(object)(M, dP, beta1)
    other = M + (dP - M) * (1 - beta1)
    return Traced(out.v, np.maximum(out.bound, _bound(other)))


@optimizers.second_moment.register(Traced)
def _second_moment(V, dP, beta2):
    """As _first_moment: beta2 V + (1 - beta2) dP^2, or V + (dP^2 - V)(1 - beta2)."""
    out = optimizers.second_moment.dispatch(object)(V, dP, beta2)
    other = V + (dP * dP - V) * (1 - beta2)
    return Traced(out.v, np.maximum(out.bound, _bound(other)))


@optimizers.clipped.register(Traced)
def _clipped(dP, factor, norm, max_norm):
    """The reference's route, traced, and what the route that divides first adds (optax,
    tf.clip_by_global_norm: (dP / ||g||) * max_norm): where it clips and the quotient falls
    below the smallest normal number, the quotient may underflow, flush-to-zero included
    (XLA's CPU flushes subnormals), an absolute error up to max_norm tiny (TOLERANCES.md,
    "Optimizers")."""
    out = optimizers.clipped.dispatch(object)(dP, factor, norm, max_norm)
    ctx = _CONTEXT.get()
    trailing = lambda a: np.reshape(a, np.shape(a) + (1,) * (np.ndim(dP.v) - np.ndim(a)))  # noqa: E731
    c, n = trailing(_value(factor)), trailing(_value(norm))
    with np.errstate(divide="ignore", invalid="ignore"):
        low = (c < 1) & (dP.v != 0) & (np.abs(dP.v) < ctx.tiny * np.abs(n))
    if not low.any():
        return out
    return Traced(out.v, out.bound + (abs(float(_value(max_norm))) * ctx.tiny / ctx.u) * low)


# How much of a slot's value the next update keeps: beta1 of M, beta2 of V, mu of B.
GAINS = {"M": "beta1", "V": "beta2", "B": "momentum"}


def _train_beyond_sgd(case, perturb=None):
    """`train` for a case with an optimizer, a schedule, decay or clipping: the same values
    as reference.train, bit for bit, and their bounds, one update at a time (a schedule's
    rate and the bias corrections differ from update to update). Each update is traced from
    exact parameters and an exact state, with lr_t and every hyperparameter an input rounded
    to the dtype (`hyperparameters`, `schedule_units`); R covers the new parameters and the
    new state. What the updates leave behind (the "carried" floor) adds up linearly, not as
    independent errors: a hyperparameter's rounding is the same at every update, so its
    errors do not cancel. A parameter carries sum_t R_t (gain 1); a slot sum_t gain^(T - t)
    R_t (beta1 for M, beta2 for V, mu for B), its bound the larger of that and its largest R.
    With `perturb`, the parameters and the state are perturbed after every update."""
    X, Y, params = training.cast(case)
    net = (case.activations, case.loss, case.reduction)
    trainable = case.trainable_names
    batches, first = case.update_batches()
    initial_outputs, gradients, initial_reach = _initial_evaluation(case, X, Y, params, first)
    n, (start, state) = case.updates, starting_state(case, params)
    optimizer, clip = hyperparameters(case)
    losses, units, margins, reach = np.empty(n + 1), np.empty(n + 1), np.empty(n), np.empty(n + 1)
    param_units = {k: np.zeros(v.shape) for k, v in params.items()}
    carried = {k: np.zeros(v.shape) for k, v in params.items()}
    slots = [] if state is None else [s for s in state if s != "step"]
    state_units = {s: {k: np.zeros(params[k].shape) for k in trainable} for s in slots}
    state_carried = {s: {k: np.zeros(params[k].shape) for k in trainable} for s in slots}
    ctx, R, horizon = _CONTEXT.get(), None, None
    base, base_state, run, run_state = params, state, params, state
    for i, idx in enumerate(batches):
        lr = optimizers.learning_rate(case.lr_schedule, case.lr, start + i)
        Xb, Yb = X[:, idx], Y[:, idx]
        value, new, new_state = _update(case, base, base_state, Xb, Yb, lr, case.optimizer,
                                        case.clip)
        ctx.reset()
        traced_state = None if base_state is None else map_state(base_state, Traced)
        t_value, t_new, t_state = _update(
            case, {k: Traced(v) for k, v in base.items()}, traced_state, Traced(Xb), Yb,
            Traced(np.float64(lr), np.float64(schedule_units(case.lr_schedule, case.lr,
                                                              start + i))),
            optimizer, clip)
        reach[i] = ctx.max_reach
        margins[i] = ctx.reset()
        units[i] = t_value.bound
        if R is not None:  # the rounding of the update before, seen through this gradient
            _, g = network.backward_propagation(Xb, Yb, base, *net, input_grad=False)
            units[i] += sum(float(np.sum(np.abs(g["d" + k]) * R[k])) for k in trainable)
        R = {k: t_new[k].bound for k in trainable}
        RS = {s: {k: t_state[s][k].bound for k in trainable} for s in slots}
        for k in trainable:
            np.maximum(param_units[k], R[k], out=param_units[k])
            carried[k] += R[k]
            for s in slots:
                np.maximum(state_units[s][k], RS[s][k], out=state_units[s][k])
                gain = case.optimizer[GAINS[s]]
                state_carried[s][k] = gain * state_carried[s][k] + RS[s][k]
        if horizon is None and any(R[k].max() > 0 and not ctx.u * R[k].max() < np.abs(new[k]).max()
                                   for k in trainable if R[k].size):
            horizon = i
        if perturb is None:
            losses[i] = value
        else:  # past the horizon a "small" perturbation no longer exists
            losses[i], run, run_state = _update(case, run, run_state, Xb, Yb, lr,
                                                case.optimizer, case.clip)
            live = horizon is None
            merged = dict(run) | {f"{s}[{k}]": run_state[s][k] for s in slots for k in trainable}
            bound = {k: (R[k] if live else 0 * R[k]) if k in R else 0 * base[k] for k in run}
            bound |= {f"{s}[{k}]": RS[s][k] if live else 0 * RS[s][k]
                      for s in slots for k in trainable}
            merged = perturb(merged, bound)
            run = {k: merged[k] for k in run}
            if run_state is not None:
                run_state = {"step": new_state["step"]} | {
                    s: {k: merged[f"{s}[{k}]"] for k in trainable} for s in slots}
        base, base_state = new, new_state
    if perturb is None:
        run, run_state = base, base_state
    AL, losses[-1], AL_bound, units[-1], reach[-1] = _final_evaluation(case, X, Y, base, R, run,
                                                                        perturb)
    (gradients, g_b), (initial_outputs, in_b) = split(gradients), split(initial_outputs)
    final_state = {s: {k: np.maximum(state_units[s][k], state_carried[s][k])
                       for k in trainable} for s in slots}
    return TrainResult(losses=losses.astype(case.dtype), gradients=gradients,
                       final_params=run, final_outputs=AL, initial_outputs=initial_outputs,
                       final_state=run_state,
                       bounds={"gradients": g_b, "initial_outputs": in_b, "losses": units,
                               "final_params": param_units, "final_outputs": AL_bound,
                               "carried": carried, "final_state": final_state,
                               "margins": margins, "reach": reach,
                               "initial_reach": initial_reach, "horizon": horizon})


def _initial_evaluation(case, X, Y, params, first):
    """The step-0 values, traced: A[L] on all of X, the gradients on the first batch, and the
    largest reach of their sums (Context._note_reach)."""
    ctx = _CONTEXT.get()
    ctx.reset()
    initial_outputs, _ = network.forward_propagation(Traced(X), params, case.activations)
    gradients = training.initial_gradients(params, Traced(X[:, first]), Y[:, first],
                                           case.activations, case.loss, case.reduction)
    reach = float(ctx.max_reach)
    ctx.reset()
    return initial_outputs, gradients, reach


def _final_evaluation(case, X, Y, base, R, run, perturb):
    """The evaluation on all of X after the last update: (A[L] and the loss of the returned
    run, the bound of A[L], the loss's unit, its reach), the bound from the base run's
    parameters with the last update's bound R (None: no update; a frozen parameter has none)."""
    final = base if R is None else {k: Traced(v, R[k]) if k in R else v for k, v in base.items()}
    ctx = _CONTEXT.get()
    ctx.reset()
    AL_bound, caches = network.forward_propagation(Traced(X), final, case.activations)
    loss_bound = network.compute_loss(AL_bound, caches[-1]["Z"], Y, case.loss, case.reduction)
    reach = float(ctx.max_reach)
    ctx.reset()
    if perturb is None:
        return AL_bound.v, loss_bound.v, AL_bound.bound, loss_bound.bound, reach
    AL, caches = network.forward_propagation(X, run, case.activations)
    loss = network.compute_loss(AL, caches[-1]["Z"], Y, case.loss, case.reduction)
    return AL, loss, AL_bound.bound, loss_bound.bound, reach


def _chunk_size(case) -> int:
    """How many updates to trace at once within TRACE_BYTES."""
    size = sum(v.size for v in case.params.values()) + sum(case.layers) * case.m
    return max(1, TRACE_BYTES // (8 * TRACE_COPIES * size))


def _trace_updates(states, idxs, X, Y, net, step, lr, trainable):
    """Trace update j from parameters states[j] on batch idxs[j], every j at once, grouped by
    batch size (`stacked`; a group of one alone). Returns (E of each loss, (S,); each
    parameter's R, (S, ...); margins, (S,); reach, (S,))."""
    S = len(states)
    E_loss, margins, reach = np.empty(S), np.empty(S), np.empty(S)
    R = {k: np.zeros((S,) + v.shape) for k, v in states[0].items()}
    groups: dict[int, list[int]] = {}
    for j, idx in enumerate(idxs):
        groups.setdefault(X.shape[1] if isinstance(idx, slice) else len(idx), []).append(j)
    for js in groups.values():
        if len(js) == 1:
            (j,) = js
            ctx = _CONTEXT.get()
            ctx.reset()
            value, new = step(states[j], Traced(X[:, idxs[j]]), Y[:, idxs[j]], *net, lr, trainable)
            reach[j] = ctx.max_reach
            margins[j] = ctx.reset()
        else:
            if isinstance(idxs[js[0]], slice):  # the whole data: one array for all
                Xs = np.broadcast_to(X, (len(js),) + X.shape)
                Ys = np.broadcast_to(Y, (len(js),) + Y.shape)
            else:
                cols = np.stack([np.asarray(idxs[j]) for j in js])
                Xs, Ys = X[:, cols].transpose(1, 0, 2), Y[:, cols].transpose(1, 0, 2)
            P = {k: Traced(np.stack([states[j][k] for j in js])) for k in states[0]}
            with stacked(len(js)) as ctx:  # Y stays a plain array: exact data
                value, new = step(P, Traced(Xs), Ys, *net, lr, trainable)
                reach[js] = ctx.max_reach
                margins[js] = ctx.reset()
        E_loss[js] = value.bound
        for k in trainable:
            R[k][js] = new[k].bound
    return E_loss, R, margins, reach


@losses.fused_output_delta.register(Traced)
def _fused_output_delta(ZL, Y, loss, reduction):
    """The reference's route, traced, or the log-sum-exp route of autodiff, whichever bound
    is larger (see the module docstring)."""
    out = losses.fused_output_delta.dispatch(object)(ZL, Y, loss, reduction)
    route = logits_route(ZL.v, _parts(Y)[0], loss, reduction, ZL.shape[1]) + np.abs(out.v)
    return Traced(out.v, np.maximum(out.bound, route))


def logits_route(z, y, loss: str, reduction: str, m: int):
    """The rounding of the fused output delta by autodiff's route, in units of u: (1 - y)
    sigma(z) - y sigma(-z) for bce, softmax(z) sum(y) - y through exp(z - logsumexp(z)) for
    cce (columns: axis -2), each term to (C_ELEMENTARY + 2|z|) u, times the reduction's
    factor. Both levels use it (noise.py: the size of one more rounding event)."""
    y = np.abs(y)
    if loss == "bce":
        terms, size = (1 - y) * activations.sigmoid(z) + y * activations.sigmoid(-z), np.abs(z)
    else:
        E = np.exp(z - z.max(axis=-2, keepdims=True))
        terms, size = E / E.sum(axis=-2, keepdims=True) + y, np.abs(z).max(axis=-2, keepdims=True)
    factor = abs(losses.reduction_factor(reduction, m))
    return (C_ELEMENTARY + 2 * size) * terms * factor


@activations.tanh_derivative.register(Traced)
def _tanh_derivative(Z):
    """The reference's route, traced, or 1 / cosh(z)^2, whichever bound is larger."""
    out = activations.tanh_derivative.dispatch(object)(Z)
    route = (2 * C_ELEMENTARY + 2) * np.abs(out.v)
    if Z.e is not None:  # the propagated error, the same on either route
        route = route + 2 * np.abs(np.tanh(Z.v)) * np.abs(out.v) * Z.e
    return Traced(out.v, np.maximum(out.bound, route))


@losses.softplus.register(Traced)
def _softplus(Z):
    """The reference's route, traced, or one elementary function, whichever bound is larger."""
    out = losses.softplus.dispatch(object)(Z)
    route = C_ELEMENTARY * np.abs(out.v)
    if Z.e is not None:
        route = route + activations.sigmoid(Z.v) * Z.e
    return Traced(out.v, np.maximum(out.bound, route))
