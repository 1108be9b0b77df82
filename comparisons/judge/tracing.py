"""The tracing shell, written once for both levels of the judge's bounds.

The reference's formulas (reference/) are written for NumPy arrays and run unchanged on a
shell array: each NumPy operation they call (an operator, a ufunc such as np.exp, a function
such as np.where) goes to the rule its level defines for it, which computes the value and what
that level carries beside it:

    bounds.Traced   the worst-case rounding bound e (first order, in units of u)
    noise.Noisy     K randomly rounded evaluations beside the exact one, and the jumps J

An operation without a rule raises TypeError: a value never silently loses what it carries.
Each level has a twin for the result of a comparison (a decision: relu', a branch of np.where)
that may only be used through a rule. Each level keeps its own rules and its own context (the
dtype whose kinks count, the noise's generator); this module holds the dispatch, the operators
and the helpers the two share, and nothing of either model.
"""

from __future__ import annotations

import contextlib

import numpy as np

# Python operators, each calling its ufunc's rule directly (NumPy's dispatch costs more than
# the arithmetic of a 2x1 operand): binary ones with their reflected forms, unary ones and
# comparisons.
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
          "matmul": np.matmul}
UNARY = {"neg": np.negative, "abs": np.absolute}
COMPARISONS = {"gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal}


class Shell:
    """A duck array whose NumPy operations are its level's rules (`ufunc_rules`, keyed by
    ufunc, and `function_rules`, keyed by NumPy function); `level` names it in errors."""

    __slots__ = ()
    level = "comparisons.judge"
    ufunc_rules: dict = {}
    function_rules: dict = {}

    def __array__(self, dtype=None, copy=None):  # never silently drop what it carries
        raise TypeError(f"{self.level}: a {type(self).__name__} is converted without a rule")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        rule = self.ufunc_rules.get(ufunc)
        if method != "__call__" or kwargs or rule is None:
            raise TypeError(f"{self.level}: no rounding rule for {ufunc.__name__}"
                            f"{'.' + method if method != '__call__' else ''}")
        return rule(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        rule = self.function_rules.get(func)
        if rule is None:
            raise TypeError(f"{self.level}: no rounding rule for numpy.{func.__name__}")
        return rule(*args, **kwargs)


def reflected(rule):
    """The rule of `other op self` as a method of self."""
    return lambda self, other: rule(other, self)


def install_operators(cls) -> None:
    """Give `cls` the Python operators of its ufunc rules."""
    rules = cls.ufunc_rules
    for name, ufunc in BINARY.items():
        setattr(cls, f"__{name}__", rules[ufunc])
        setattr(cls, f"__r{name}__", reflected(rules[ufunc]))
    if np.power in rules:  # x ** p, for a level that has a rule for it
        cls.__pow__ = rules[np.power]
    for name, ufunc in {**UNARY, **COMPARISONS}.items():
        setattr(cls, f"__{name}__", rules[ufunc])


def like(fn, value):
    """The rule of np.ones_like / np.zeros_like: `fn` of the operand's exact value
    (`value(a)`): a constant, exactly."""
    def rule(a, *args, **kwargs):
        return fn(value(a), *args, **kwargs)
    return rule


def add_terms(*terms):
    """The sum of the terms that are not None (None stands for an exact zero); None if all
    are."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else out + t
    return out


@contextlib.contextmanager
def scoped(var, value):
    """Set the context variable `var` to `value` within the block; yields `value`."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)
