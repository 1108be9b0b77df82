"""From a FAIL to the formula: where a pair of implementations first leaves its bound, and why.

1. The first update. A pair that fails at step 0 (the gradients, the initial outputs) fails at
   update 0. Otherwise the case is cut to its first k updates and judged again, k found by
   bisection: the first update whose run leaves its bound.
2. The first formula. At that update, from the reference's parameters before it and its batch,
   every formula runs in the order of the computation (forward: Z[l], A[l], the loss;
   backward: the output delta, dW[l] and db[l], dA[l-1], dZ[l-1]; then the update), in both
   implementations, each given the *reference's* inputs (rounded to the case's dtype): an
   error upstream is never blamed downstream. Each output is judged against the a-priori
   bound of that one formula on exact inputs, (u_a + u_b)·γ·E; the first that leaves it is
   named, with the function that computes it in each implementation (file:line), the
   element, its inputs, both values, the bound and a hint where the inputs sit at a known trap.
   Implementations with only `train` get the update and the tensor (step 1).
3. A reproducer: the case cut down to that update (the reference's parameters before it, its
   batch, one update), a case file that `run` and `verify` accept.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from pathlib import Path

import numpy as np

import reference
from comparisons import protocol
from comparisons.execution import runner
from comparisons.execution.runner import EXIT_DISAGREE, EXIT_INCOMPLETE, EXIT_OK
from comparisons.judge import bounds, formulas
from comparisons.judge.bounds import C_ELEMENTARY, UNIT_ROUNDOFF
from comparisons.judge.formulas import BACKWARD, FORWARD, UPDATE
from comparisons.judge.local import SUFFIX, update_of
from comparisons.judge.oracle import ORACLE_NAME, oracle_case
from comparisons.judge.parity import gamma
from comparisons.judge.verdict import ERROR
from comparisons.protocol.case import case_from_dict, map_state, training_features
from comparisons.protocol.parts import state_after
from comparisons.report import output

from . import common
from .common import UsageError
from .walkthrough import mirrored

ROOT = Path(__file__).resolve().parent.parent.parent
HELP = ("where a failing pair first leaves its bound: the update, then the first formula given "
        "the reference's inputs, the element and why")


def add_arguments(p) -> None:
    p.add_argument("case", help="a catalogue name or a .json/.toml case file")
    p.add_argument("--impl", required=True, metavar="NAME",
                   help="the implementation to diagnose: a registered name or a module path")
    p.add_argument("--against", default="reference", metavar="NAME",
                   help="the other side of the pair (default: the reference)")
    p.add_argument("--dtype", choices=["float64", "float32"], help="run the case in this dtype")
    p.add_argument("--json", action="store_true",
                   help="a JSON list on stdout, one object per diagnosed pair")
    p.add_argument("--out", default="diagnose-report", metavar="DIR",
                   help="where the reproducer case file goes (default: diagnose-report/)")
    common.add_run_limits(p)
    common.add_device(p)
    common.add_quiet(p)


def command(args) -> int:
    case = common.without_policy(common.case_arg(args.case, args.max_memory), "diagnose")
    if args.dtype:
        case = case.replace(dtype=args.dtype)
    impls, missing = common.select([args.impl] + ([args.against] if args.against != "reference"
                                                  else []))
    a = protocol.resolve(args.impl).name
    b = protocol.resolve(args.against).name
    if a == b:
        raise UsageError(f"--against: {b!r} is the implementation being diagnosed; expected "
                         "another one")
    options = common.device_options(args)
    common.check_cost([case], impls, args.max_memory, options.get("device", "cpu"),
                      options.get("precision", "default"))
    if missing:
        return common.incomplete("nothing to diagnose: " + common.listed(missing))
    out = Path(args.out)
    show = common.progress(not args.quiet and not args.json)
    with output.staged(out, common.out_dir(out)) as stage:
        found, repro = diagnose(case, impls, a, b, timeout=args.timeout, options=options,
                                progress=lambda text: show(1, 1, text))
        if repro is not None:
            (stage / f"{repro.name}.json").write_text(output.dumps(repro.to_dict(), indent=1)
                                                      + "\n")
            found.reproducer = str(out / f"{repro.name}.json")
    if args.json:
        print(output.dumps([found.to_dict()]))
    else:
        print("\n".join(found.lines()))
    if found.status == "not compared":
        return EXIT_INCOMPLETE
    return EXIT_DISAGREE if found.first_update is not None or found.status == "error" else EXIT_OK
# |Z[L]| beyond which a sigmoid or softmax saturates in float32 (e^-17 < u32): a confident logit
CONFIDENT = 15.0
# A result this many times smaller than the sum of its terms' magnitudes has cancelled
CANCELLING = 1e3


@dataclasses.dataclass
class Diagnosis:
    """What `diagnose` found for one pair (its JSON form is `to_dict`)."""

    case: str
    dtype: str
    pair: tuple[str, str]
    status: str                   # the pair's verdict on the whole case
    first_update: int | None      # None: the pair does not fail
    failing_tensor: str = ""      # the tensor the verdict names at that update
    phase: str | None = None      # forward | backward | update
    formula: str | None = None
    function: str | None = None   # module.function, the same name in every implementation
    layer: int | None = None
    tensor: str | None = None     # the formula's output: Z2, dW1, W2+, ...
    index: list | None = None
    values: dict = dataclasses.field(default_factory=dict)
    inputs: dict = dataclasses.field(default_factory=dict)
    bound: float | None = None
    ratio: float | None = None
    functions: dict = dataclasses.field(default_factory=dict)
    hint: str = ""
    message: str = ""
    reproducer: str | None = None
    relative: float | None = None       # |theirs - reference| / |reference| at the element
    constant_ratio: float | None = None  # theirs / reference, the same at every element
    factor: str | None = None            # the factor of a product that leaves its own bound
    factor_function: str | None = None
    factor_ratio: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"pair": list(self.pair)}

    def lines(self) -> list[str]:
        a, b = self.pair
        head = f"{self.case} ({self.dtype}), {a} vs {b}: "
        if self.first_update is None:
            return [head + self.message]
        out = [head + f"{self.status}; first leaves its bound at update {self.first_update}"
               + (f" ({self.failing_tensor})" if self.failing_tensor else "")]
        if self.formula:
            out.append(f"  {self.phase}: {self.formula}   [{self.function}]")
            out += [f"    {impl}: {where}" for impl, where in self.functions.items()]
            at = f"{self.tensor}{self.index}" if self.index is not None else self.tensor
            if self.ratio is not None:
                bound = "–" if self.bound is None else f"{self.bound:.3g}"
                out.append(f"  at {at}: " + ", ".join(f"{k} {v!r}" for k, v in
                                                      self.values.items())
                           + f"; bound {bound}, error/bound {self.ratio:.3g}")
            if self.relative is not None:
                out.append(f"  relative error {self.relative:.3g} there"
                           + (f"; theirs / reference = {self.constant_ratio!r} at every element "
                              "that stands above its bound: a constant ratio (a wrong constant, "
                              "or a wrong derivative formula)"
                              if self.constant_ratio is not None else ""))
            if self.inputs:
                out.append("  inputs: " + ", ".join(f"{k} = {v!r}" for k, v in self.inputs.items()))
            if self.factor:
                out.append(f"  the factor that leaves its own bound: {self.factor}   "
                           f"[{self.factor_function}], error/bound {self.factor_ratio:.3g}")
        if self.message:
            out.append(f"  {self.message}")
        if self.hint:
            out.append(f"  hint: {self.hint}")
        if self.reproducer:
            out.append(f"  reproducer: {self.reproducer} (python -m comparisons run "
                       f"{self.reproducer} --impl {a if a != ORACLE_NAME else b})")
        return out


def _failing(v) -> bool:
    """The pair leaves its bound (a declared expected failure included: it is diagnosed too)."""
    return v.status == ERROR or any(not r.ok and not r.skipped for r in v.rows)


def _pair_verdict(session, a: str, b: str):
    for v in session.verdicts:
        if set(v.pair) == {a, b} or (b == ORACLE_NAME and v.pair[0] == a
                                     and v.pair[1].startswith(ORACLE_NAME)):
            return v
    return None


def truncated(case, k: int):
    """The case cut to its first k updates (the same batches, in the same order)."""
    if case.full_batch:
        return case.replace(epochs=k, name=f"{case.name}-first-{k}")
    return case.replace(batches=case.batch_order()[:k], batch_size=None, shuffle_seed=None,
                        epochs=1, name=f"{case.name}-first-{k}")


def first_failing_update(case, impls: dict, a: str, b: str, verdict, *, timeout, options,
                         progress=None) -> tuple[int, str]:
    """(the first update at which the pair leaves its bound, the tensor its verdict names
    there): 0 for a failure at step 0, else by bisection over runs cut to k updates."""
    step0 = [r for r in verdict.rows if r.kind == "step 0" and not r.ok and not r.skipped]
    if step0:
        return 0, max(step0, key=lambda r: r.worst_ratio).name
    judged = [(update_of(r), r.name[:-len(SUFFIX)]) for r in verdict.rows
              if not r.ok and not r.skipped and update_of(r) is not None]
    if judged:  # every update was judged one step at a time: the first failing one
        return min(judged)
    worst = verdict.worst.name if verdict.worst is not None else ""
    lo, hi = 0, case.updates  # fails(hi) (the whole run); fails(lo) false by definition
    names = {hi: worst}
    while hi - lo > 1:
        k = (lo + hi) // 2
        s = runner.run([truncated(case, k)], impls, timeout=timeout, options=options)
        v = _pair_verdict(s, a, b)
        if progress:
            progress(f"updates 1..{k}: {v.status if v else 'not compared'}")
        if v is not None and _failing(v):
            hi, names[k] = k, (v.worst.name if v.worst is not None else "")
        else:
            lo = k
    return hi - 1, names.get(hi, worst)


# --- The formulas, in the order the computation runs ----------------------------------------

@dataclasses.dataclass
class _Check:
    phase: str
    formula: str
    function: str
    layer: int | None
    tensor: str
    theirs: object     # the implementation's output (any framework's array)
    ref: object        # the reference's output on the same inputs, traced (value, bound)
    inputs: dict       # name -> array, the inputs both were given


def _location(pkg, function: str) -> str:
    mod, name = function.split(".")
    fn = getattr(getattr(pkg, mod), name)
    try:
        path = Path(inspect.getsourcefile(fn)).resolve()
        line = inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        return function
    try:
        path = path.relative_to(ROOT)
    except ValueError:
        pass
    return f"{path}:{line}"


class _Walk:
    """Runs each formula of one update in the reference (traced) and in one implementation,
    both on the reference's inputs rounded to the case's dtype."""

    def __init__(self, pkg, case):
        self.pkg, self.case, self.dtype = pkg, case, case.dtype
        self.ref, self.bounds = reference, bounds

    def inp(self, x) -> np.ndarray:
        """The reference's value as an input: rounded to the case's dtype, kept in float64."""
        v = x.v if isinstance(x, self.bounds.Traced) else np.asarray(x)
        return np.asarray(v, dtype=self.dtype).astype(np.float64)

    def theirs(self, fn, *arrays, **kw):
        f = getattr(getattr(self.pkg, fn.split(".")[0]), fn.split(".")[1])
        conv = [self.pkg.training.as_array(a, self.dtype) if isinstance(a, np.ndarray) else a
                for a in arrays]
        return f(*conv, **kw)

    def traced(self, fn, *arrays, **kw):
        f = getattr(getattr(self.ref, fn.split(".")[0]), fn.split(".")[1])
        conv = [self.bounds.Traced(a) if isinstance(a, np.ndarray) else a for a in arrays]
        return f(*conv, **kw)

    def checks(self, params: dict, X: np.ndarray, Y: np.ndarray, forward_only: bool = False,
               lr: float | None = None):
        """Yield every _Check of one update from `params` on the batch (X, Y), in order; with
        `forward_only`, the forward pass and the loss alone (the final evaluation on all
        of X). `lr`: the update's rate (a schedule's; default the case's). The step is checked
        for plain SGD only: an optimizer's update is named as a whole (`diagnose`)."""
        c, L = self.case, self.case.L
        lr = c.lr if lr is None else lr
        acts = c.activations
        net = "network."
        P = {k: self.inp(v) for k, v in params.items()}
        A = {0: self.inp(X)}
        Z = {}
        for l in range(1, L + 1):
            ins = {f"A[{l - 1}]": A[l - 1], f"W[{l}]": P[f"W{l}"], f"b[{l}]": P[f"b{l}"]}
            r = self.traced(net + "linear_forward", *ins.values())
            yield _Check(FORWARD, *formulas.text("Z", c, l), l, f"Z{l}",
                         self.theirs(net + "linear_forward", *ins.values()), r, ins)
            Z[l] = self.inp(r)
            ins = {f"Z[{l}]": Z[l]}
            r = self.traced(net + "activation_forward", Z[l], acts[l - 1])
            yield _Check(FORWARD, *formulas.text("A", c, l), l, f"A{l}",
                         self.theirs(net + "activation_forward", Z[l], acts[l - 1]), r, ins)
            A[l] = self.inp(r)
        Yb = np.asarray(Y, dtype=np.float64)
        ins = {f"A[{L}]": A[L], f"Z[{L}]": Z[L], "Y": Yb}
        loss_args = (A[L], Z[L], Yb, c.loss, c.reduction)
        yield _Check(FORWARD, *formulas.text("E", c), None, "E",
                     self.theirs(net + "compute_loss", *loss_args),
                     self.traced(net + "compute_loss", *loss_args), ins)
        if forward_only:
            return
        r = self.traced(net + "output_delta", *loss_args, acts[-1])
        yield _Check(BACKWARD, *formulas.text(formulas.kind_of(f"dZ{L}", c), c), L, f"dZ{L}",
                     self.theirs(net + "output_delta", *loss_args, acts[-1]), r, ins)
        dZ = self.inp(r)
        new = dict(P)
        for l in range(L, 0, -1):
            ins = {f"dZ[{l}]": dZ, f"A[{l - 1}]": A[l - 1]}
            r_w, r_b = self.traced(net + "linear_backward_weights", dZ, A[l - 1])
            t_w, t_b = self.theirs(net + "linear_backward_weights", dZ, A[l - 1])
            yield _Check(BACKWARD, *formulas.text("dW", c, l), l, f"dW{l}", t_w, r_w, ins)
            yield _Check(BACKWARD, *formulas.text("db", c, l), l, f"db{l}", t_b, r_b, ins)
            if c.schedule == "sequential":  # the reference's updated weights carry the delta
                for k, g in ((f"W{l}", r_w), (f"b{l}", r_b)):
                    if k in c.trainable_names:
                        new[k] = self.inp(P[k] - lr * g.v)
            if l > 1:
                W = new[f"W{l}"] if c.schedule == "sequential" else P[f"W{l}"]
                Wname = f"W[{l}]" + ("+" if c.schedule == "sequential" else "")
                ins = {f"dZ[{l}]": dZ, Wname: W}
                r = self.traced(net + "linear_backward_input", dZ, W)
                yield _Check(BACKWARD, *formulas.text("dA", c, l - 1), l - 1, f"dA{l - 1}",
                             self.theirs(net + "linear_backward_input", dZ, W), r, ins)
                dA = self.inp(r)
                ins = {f"dA[{l - 1}]": dA, f"Z[{l - 1}]": Z[l - 1]}
                r = self.traced(net + "activation_backward", dA, Z[l - 1], acts[l - 2])
                yield _Check(BACKWARD, *formulas.text("dZ", c, l - 1), l - 1, f"dZ{l - 1}",
                             self.theirs(net + "activation_backward", dA, Z[l - 1], acts[l - 2]),
                             r, ins)
                dZ = self.inp(r)
        if c.stateful:
            return
        # The update as the implementation's own step computes it, from the same parameters
        step = f"training.{c.schedule}_step"
        net_args = (c.activations, c.loss, c.reduction, lr, c.trainable_names)
        _, r_new = self.traced(step, P, self.inp(X), Yb, *net_args)
        tp = {k: self.pkg.training.as_array(v, self.dtype) for k, v in P.items()}
        _, t_new = getattr(self.pkg.training, f"{c.schedule}_step")(
            tp, self.pkg.training.as_array(self.inp(X), self.dtype),
            self.pkg.training.as_array(Yb, self.dtype), *net_args)
        order = [f"{p}{l}" for l in range(L, 0, -1) for p in "Wb"]  # as the updates run
        for k in order:  # a frozen parameter must come back exactly as it went in
            l, frozen = int(k[1:]), k not in c.trainable_names
            update, _ = formulas.text("P+", c, l, p=k[0])
            yield _Check(UPDATE, f"{k[0]}[{l}]+ = {k[0]}[{l}] (frozen)" if frozen else
                         f"{update} ({c.schedule} schedule)", step, l,
                         f"{k}+", t_new[k], r_new[k] if not frozen else self.bounds.Traced(P[k]),
                         {k: P[k], "lr": np.asarray(lr)})


def relative_error(theirs, ref_v, bound, at) -> tuple[float | None, float | None]:
    """(the relative error at element `at`, theirs / reference where that ratio is the same,
    to 1e-3 of its distance from 1, at every element that stands above its bound (at least
    two), else None): a constant ratio points at a wrong constant or derivative formula."""
    t, r = _as_float(theirs), np.asarray(ref_v, dtype=np.float64)
    if t.shape != r.shape or at is None or r[at] == 0:
        return None, None
    rel = float(abs(t[at] - r[at]) / abs(r[at]))
    with np.errstate(all="ignore"):
        resolved = (np.abs(r) > np.asarray(bound)) & (r != 0) & np.isfinite(t)
        q = t[resolved] / r[resolved]
    if q.size < 2 or not np.all(np.isfinite(q)):
        return rel, None
    mid = float(np.median(q))
    constant = mid != 1 and float(np.ptp(q)) <= 1e-3 * abs(mid - 1)
    return rel, (mid if constant else None)


def failing_factor(walk, check, case):
    """Inside a product (dZ[L] = loss'(A[L]) * g'(Z[L]); dZ[l] = dA[l] * g'(Z[l])): each
    derivative factor, computed by both implementations on the reference's inputs and judged
    against its own bound; (the first that leaves it, its function, its error/bound), or
    None when none does (the product itself, or its inputs, are then wrong)."""
    fn = check.function.split(".")[-1]
    L, acts = case.L, case.activations
    if fn == "output_delta" and case.loss not in formulas.FUSED:
        A, Z, Y = (check.inputs[f"A[{L}]"], check.inputs[f"Z[{L}]"], check.inputs["Y"])
        factors = [(f"loss'(A[{L}]) = {case.loss}_derivative(A[{L}], Y)",
                    f"losses.{case.loss}_derivative", (A, Y, case.reduction)),
                   (f"g'(Z[{L}]) = {acts[-1]}_derivative(Z[{L}])",
                    f"activations.{acts[-1]}_derivative", (Z,))]
    elif fn == "output_delta":
        Z = check.inputs[f"Z[{L}]"]
        out = "sigmoid" if case.loss == "bce" else "softmax"
        factors = [(f"A[{L}] = {out}(Z[{L}]) in (A[L] - Y) * factor", f"activations.{out}",
                    (Z,))]
    elif fn == "activation_backward" and acts[check.layer - 1] != "softmax":
        g = acts[check.layer - 1]
        factors = [(f"{g}'(Z[{check.layer}]) = {g}_derivative(Z[{check.layer}])",
                    f"activations.{g}_derivative", (check.inputs[f"Z[{check.layer}]"],))]
    else:
        return None
    for text, function, args in factors:
        if not hasattr(walk.pkg, function.split(".")[0]):  # no per-formula module for it
            continue
        part = _Check(check.phase, text, function, check.layer, check.tensor,
                      walk.theirs(function, *args), walk.traced(function, *args), check.inputs)
        ratio, *_ = _judge(part, case.dtype, case)
        if ratio > 1.0:
            return text, function, ratio
    return None


# |Z| beyond which a sigmoid or tanh unit is saturated in the case's dtype (its derivative
# below u): the unit passes no gradient, and a small change of Z changes nothing
SATURATED = {"float64": 37.0, "float32": 17.0}


def black_box_hint(case, k: int, tensor: str, params: dict, run) -> str:
    """What feeds the failing element, where the implementation offers only `train`: the
    reference's pass at update k (or on all of X for an output) names a pre-activation exactly
    at a kink, a saturated unit, a confident logit, or an output off everywhere by one
    ratio (the forward activation)."""
    oc = oracle_case(case)
    whole = tensor.startswith(("initial A", "final"))
    idx = slice(None) if whole else _batch(case, k)
    if tensor.startswith("final"):
        params = _reference_state(case, case.updates)
    with np.errstate(all="ignore"):
        _, caches = reference.network.forward_propagation(oc.X[:, idx], params, case.activations)
    found = []
    if run is not None and run.status == "ok" and tensor in ("initial A[L]", "final A[L]"):
        theirs = run.result.initial_outputs if tensor.startswith("initial") else \
            run.result.final_outputs
        with np.errstate(all="ignore"):
            ref = reference.network.forward_propagation(oc.X, params, case.activations)[0]
        _, ratio = relative_error(theirs, ref, np.zeros(ref.shape), (0, 0))
        if ratio is not None:
            found.append(f"{tensor} is off by the same ratio {ratio!r} at every element: the "
                         f"forward activation ({case.activations[-1]}) or a constant in it")
    for l, (g, c) in enumerate(zip(case.activations, caches), start=1):
        Z = c["Z"]
        if g in KINK and np.any(Z == 0):
            i = tuple(int(x) for x in np.argwhere(Z == 0)[0])
            found.append(f"Z[{l}]{list(i)} = 0 exactly, at {g}'s kink: the implementation's "
                         f"{g}'(0) decides there (the suite's convention {KINK[g]:g}, "
                         "docs/CASES.md)")
        if g in ("sigmoid", "tanh") and np.any(np.abs(Z) >= SATURATED[case.dtype]):
            i = tuple(int(x) for x in np.argwhere(np.abs(Z) >= SATURATED[case.dtype])[0])
            found.append(f"a saturated unit, Z[{l}]{list(i)} = {Z[i]:.6g}: its {g} rounds to "
                         "its limit, and a derivative or loss through it loses its digits")
    ZL = caches[-1]["Z"]
    if case.loss in formulas.FUSED and np.any(np.abs(ZL) >= CONFIDENT):
        i = tuple(int(x) for x in np.argwhere(np.abs(ZL) >= CONFIDENT)[0])
        found.append(f"a confident logit, Z[{case.L}]{list(i)} = {ZL[i]:.6g}: a loss or delta "
                     "computed through its probability (not from the logits) loses its digits")
    return "; ".join(found)


def _as_float(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def _judge(check: _Check, dtype: str, case) -> tuple[float, tuple | None, np.ndarray, np.ndarray, np.ndarray]:
    """(worst error/bound, its index, theirs, reference's value, bound) of one check."""
    u = UNIT_ROUNDOFF[dtype]
    scale = (u + UNIT_ROUNDOFF["float64"]) * gamma(case, u)
    theirs = _as_float(check.theirs)
    ref_v, ref_e = check.ref.v, check.ref.bound
    ref_v = np.asarray(ref_v, dtype=np.float64)
    bound = scale * np.asarray(ref_e, dtype=np.float64)
    if theirs.shape != ref_v.shape:
        return float("inf"), None, theirs, ref_v, bound
    diff = np.abs(theirs - ref_v)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff > 0, diff / bound, 0.0)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    if ratio.size == 0:
        return 0.0, None, theirs, ref_v, bound
    i = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    return float(ratio[i]), tuple(int(x) for x in i), theirs, ref_v, bound


def _scalar(a, idx):
    a = np.asarray(a)
    if not idx or a.ndim == 0:
        return float(a.reshape(-1)[0]) if a.size == 1 else None
    if a.shape[-1] == 1 and len(idx) == 2 and a.ndim == 2:
        return float(a[idx[0], 0])  # a bias column
    try:
        return float(a[idx])
    except (IndexError, TypeError):
        return None


KINK = {"relu": 0.0, "leaky_relu": 0.01}  # the suite's g'(0) (docs/CASES.md, "Conventions")


def hint(check: _Check, idx, theirs, ref_v, bound, case, name: str) -> str:
    """A known trap the inputs sit at, where the judge can tell: a kink tie, a confident logit,
    a float32 constant, an elementary function off by more than its allowance, a
    cancellation."""
    l = check.layer
    fn = check.function.split(".")[-1]
    act = case.activations[l - 1] if l else None
    zkey = f"Z[{l}]"
    if fn in ("activation_backward", "output_delta") and act in KINK and idx is not None:
        z = _scalar(check.inputs.get(zkey), idx)
        d = _scalar(check.inputs.get(f"dA[{l}]"), idx)
        if z is not None and z == 0.0:
            got = _scalar(theirs, idx)
            slope = f"{got / d:.6g}" if d not in (None, 0.0) and got is not None else "?"
            return (f"{zkey}{list(idx)} = 0 exactly: {name}'s {act}'(0) = {slope}, the "
                    f"suite's convention {KINK[act]:g} (docs/CASES.md, \"Conventions\")")
    if case.loss in ("bce", "cce") and fn in ("compute_loss", "output_delta"):
        ZL = np.asarray(check.inputs.get(f"Z[{case.L}]"))
        col = ZL[:, idx[-1]] if idx and ZL.ndim == 2 else ZL
        if col.size and np.max(np.abs(col)) >= CONFIDENT:
            z = float(col.flat[int(np.argmax(np.abs(col)))])
            return (f"a confident logit, Z[{case.L}] = {z:.6g}: the probability rounds to 0 or 1 "
                    "there, so a loss or delta computed through it (log(1 + e^z) without "
                    "log1p, 1 - sigma(z), log(softmax)) loses its digits; compute it from the "
                    "logits (softplus with log1p, log_sigmoid, log_softmax)")
    r_ = _scalar(ref_v, idx)
    t_ = _scalar(theirs, idx)
    if r_ and t_ is not None:
        rel = abs(t_ - r_) / abs(r_)
        if case.dtype == "float64":
            consts = {"the leaky slope 0.01": 0.01, "lr": case.lr,
                      "1/m": 1.0 / max(1, np.asarray(check.inputs.get("Y", np.zeros((1, 1)))).shape[-1])}
            for what, c in consts.items():
                rel32 = abs(float(np.float32(c)) - c) / abs(c) if c else 0.0
                if rel32 > 0 and abs(rel - rel32) <= 0.05 * rel32:
                    return (f"relative error {rel:.3g}, that of {what} = {c:g} rounded to float32 "
                            f"({float(np.float32(c))!r}): a constant kept in float32 in a "
                            "float64 computation")
        u = UNIT_ROUNDOFF[case.dtype]
        if case.dtype == "float64" and 2.0 ** -40 < rel < 2.0 ** -20:
            return (f"relative error {rel:.3g}, of the order of float32's unit roundoff "
                    f"({UNIT_ROUNDOFF['float32']:.2g}): part of this formula is computed in "
                    "float32 (a cast, a float32 constant or buffer)")
        if (fn in ("activation_forward", "activation_backward")
                and C_ELEMENTARY < rel / (2 * u) < 2.0 ** 20):  # beyond: wrong, not inaccurate
            z = _scalar(check.inputs.get(zkey), idx)
            return (f"{rel / (2 * u):.0f} ulp from the reference at {zkey} = {z!r}: more than "
                    f"the {C_ELEMENTARY / 2:.0f} ulp the bounds allow an elementary function "
                    f"(exp, log, tanh): {name}'s {act} is computed by another, less accurate route")
        e = _scalar(bound, idx)
        scale = (u + UNIT_ROUNDOFF["float64"]) * gamma(case, u)
        if e is not None and abs(r_) * CANCELLING * scale < e:
            return (f"cancellation: the result {r_:.6g} is {e / scale / abs(r_):.2g} times smaller "
                    "than its terms' magnitudes, so its rounding is large relative to it")
    return ""


def _reference_state(case, k: int) -> dict:
    """The reference's parameters before update k (float64, on the case's rounded inputs)."""
    return _reference_before(case, k)[0]


def _reference_before(case, k: int):
    """(the reference's parameters, its optimizer's state or None) before update k (float64,
    on the case's rounded inputs; the state as `protocol.parts.state_after` gives it)."""
    oc = oracle_case(case)
    if k == 0:
        return dict(oc.params), oc.initial_state
    with np.errstate(all="ignore"):
        r = reference.train(truncated(oc, k))
    return dict(r.final_params), state_after(oc, r, k - 1)


def _batch(case, k: int):
    batches, first = case.update_batches()
    return batches[k] if k < len(batches) else first


def reproducer(case, k: int, params: dict, state: dict | None = None):
    """The case cut down to update k: the reference's parameters (and optimizer's state)
    before it, its batch, one update (a case `run` and `verify` accept)."""
    d = case.to_dict()
    d["name"] = f"{case.name}-update-{k}"[:100]
    d["description"] = (f"{case.name} cut down to its update {k} by `python -m comparisons "
                        f"diagnose`: the reference's parameters before it, its batch")
    d["params"] = {p: np.asarray(v, dtype=case.dtype).astype(np.float64).tolist()
                   for p, v in params.items()}
    idx = _batch(case, k)
    train = {key: d["train"][key] for key in ("lr", "schedule", "trainable", "optimizer",
                                              "lr_schedule", "clip") if key in d["train"]}
    if state is not None:
        train["state"] = map_state(state, lambda a: np.asarray(a).tolist())
    if isinstance(idx, slice):
        train.update(epochs=1, batch_size=None, shuffle_seed=None)
    else:
        train["batches"] = [np.asarray(idx).tolist()]
    d["train"] = train
    return case_from_dict(d)


def diagnose(case, impls: dict, a: str, b: str = ORACLE_NAME, *, timeout: float,
             options: dict | None = None, progress=None) -> tuple[Diagnosis, object]:
    """(the diagnosis of the pair (a, b) on `case`, the reproducer case or None). `impls`
    holds the reference and the implementations named a and b (runner.select)."""
    options = options or {}
    say = progress or (lambda text: None)
    session = runner.run([case], impls, timeout=timeout, options=options)
    v = _pair_verdict(session, a, b)
    if v is None:
        return Diagnosis(case.name, case.dtype, (a, b), "not compared", None,
                         message="not compared: " + "; ".join(
                             f"{n}: {r.message}" for n, r in session.runs[case.name].items()
                             if r.status != "ok")), None
    d = Diagnosis(case.name, case.dtype, tuple(v.pair), v.status, None)
    if not _failing(v):
        w = v.worst
        d.message = (f"{v.status}: nothing to diagnose" + (f" (worst error/bound {w.worst_ratio:.3g}"
                     f", {w.name})" if w is not None else ""))
        return d, None
    if v.status == ERROR:
        d.message = f"no verdict to localise: {v.message}"
        return d, None
    say("the first update that leaves its bound")
    k, d.failing_tensor = first_failing_update(case, impls, a, b, v, timeout=timeout,
                                               options=options, progress=say)
    d.first_update = k
    params, state = _reference_before(case, k)
    repro = reproducer(case, k, params, state)
    sides = [n for n in (a, b) if n != ORACLE_NAME]
    pkgs = {n: mirrored(impls[n]) for n in sides}
    without = [n for n, p in pkgs.items() if p is None]
    if without:
        d.message = (f"{', '.join(without)} provides only train: the update and the tensor are "
                     "what can be named (per-formula modules network and training would name "
                     "the formula: docs/FRAMEWORK-AUTHORS.md, 'Optional')")
        d.hint = black_box_hint(case, k, d.failing_tensor, params,
                                session.runs[case.name].get(without[0]))
        return d, repro
    oc = oracle_case(case)
    idx = _batch(case, k)
    X, Y = oc.X[:, idx], oc.Y[:, idx]
    say(f"update {k}: each formula on the reference's inputs")
    final = d.failing_tensor.startswith("final") or (
        d.failing_tensor.startswith("losses") and k == case.updates - 1)
    with np.errstate(all="ignore"), bounds.context(case.dtype):
        rate = reference.optimizers.learning_rate(case.lr_schedule, oc.lr,
                                                  k if state is None else state["step"])
        walks = {n: _Walk(p, case).checks(params, X, Y, lr=rate) for n, p in pkgs.items()}
        if final:  # then the evaluation after the last update, on all of X
            after = _reference_state(case, case.updates)
            finals = {n: _Walk(p, case).checks(after, oc.X, oc.Y, forward_only=True)
                      for n, p in pkgs.items()}
            walks = {n: itertools.chain(walks[n], finals[n]) for n in walks}
        for checks in zip(*walks.values()):
            for n, check in zip(walks, checks):
                ratio, at, theirs, ref_v, bound = _judge(check, case.dtype, case)
                if ratio <= 1.0:
                    continue
                d.phase, d.formula, d.function = check.phase, check.formula, check.function
                d.layer, d.tensor, d.index = check.layer, check.tensor, list(at) if at else None
                d.values = {n: _scalar(theirs, at), ORACLE_NAME: _scalar(ref_v, at)}
                d.inputs = {k_: _scalar(v_, at) for k_, v_ in check.inputs.items()
                            if np.ndim(v_) == 0 or (at is not None and np.shape(v_) == np.shape(ref_v))}
                d.bound, d.ratio = _scalar(bound, at), ratio
                d.relative, d.constant_ratio = relative_error(theirs, ref_v, bound, at)
                found = failing_factor(_Walk(pkgs[n], case), check, case)
                if found is not None:
                    d.factor, d.factor_function, d.factor_ratio = found
                d.functions = {m: _location(pkgs[m], check.function) for m in pkgs}
                d.functions[ORACLE_NAME] = _location(reference, check.function)
                d.hint = hint(check, at, theirs, ref_v, bound, case, n)
                if n != a:
                    d.message = f"the formula leaves its bound in {n}, not in {a}"
                return d, repro
    if case.stateful:  # the network's formulas agree: the optimizer's update is what is left
        d.phase, d.function = UPDATE, "optimizers.optimizer_update"
        what = ", ".join(f for f in training_features(case) if f != "lr_schedule:constant")
        d.formula = f"update {k} by the optimizer ({what})"
        d.functions = {n: _location(p, "training.train") for n, p in pkgs.items()}
        d.functions[ORACLE_NAME] = _location(reference, "optimizers.optimizer_update")
        d.message = (f"every formula of the forward and backward pass agrees with the reference "
                     f"given its inputs, but {d.failing_tensor or 'the run'} does not: the "
                     f"difference lies in the optimizer's update ({what}: reference/optimizers.py "
                     "has one function per formula) or in what train feeds it")
        return d, repro
    # Every formula and the step agree on the reference's inputs: the difference lies in
    # what train feeds them or records
    d.phase, d.function = UPDATE, "training.train"
    d.formula = (f"update {k} as train runs it: its batch, its labels, the order of the "
                 "updates, the loss it records")
    d.functions = {n: _location(p, "training.train") for n, p in pkgs.items()}
    d.message = (f"every formula and the {case.schedule} step agree with the reference given its "
                 f"inputs, but {d.failing_tensor or 'the run'} does not: the difference lies in "
                 "what train feeds the step (the batch, the labels) or what it records")
    return d, repro
