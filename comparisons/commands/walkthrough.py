"""One forward and one backward pass, every intermediate, implementation beside implementation.

The trace is taken through each package's own public functions (forward_propagation,
compute_loss, output_delta, linear_backward_weights, linear_backward_input,
activation_backward), in the order of the case's schedule. So the numbers shown are the ones
each implementation computes, and for `sequential` they include the updated weights the
delta is carried through.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
import types

import numpy as np

from comparisons.execution.runner import EXIT_DISAGREE, EXIT_OK
import reference
from comparisons.judge import bounds, formulas
from comparisons.judge.bounds import UNIT_ROUNDOFF
from comparisons.judge.parity import gamma, ulp_distance

from . import common

HELP = "every intermediate of one forward and backward pass, implementation beside implementation"


def add_arguments(p) -> None:
    p.add_argument("case", nargs="?", default="mazur-sequential",
                   help="a catalogue name or a case file (default: mazur-sequential)")
    p.add_argument("--json", action="store_true", help="every entry as JSON")
    p.add_argument("--schedule", choices=["sequential", "simultaneous"],
                   help="show this update schedule instead of the case's own")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--compact", action="store_true", default=None,
                       help="one row per tensor (default when there are more than 120 elements)")
    shown.add_argument("--full", action="store_false", dest="compact",
                       help="every element, however many")
    common.add_impl(p)


def command(args) -> int:
    case = common.without_policy(common.case_arg(args.case), "walkthrough")
    if args.schedule:
        case = case.replace(schedule=args.schedule)
    impls, missing = common.select(args.impl)
    found, skipped, errors = traces(impls, case)
    skipped = {**missing, **skipped}
    code = EXIT_DISAGREE if errors else EXIT_OK
    E = bounds_of(case) if found else {}
    if args.json:
        published = MAZUR_PUBLISHED if case.name.startswith("mazur") else {}
        out = []
        for k, v, p in rows(found, published):
            name = k.split("[")[0]
            at = tuple(int(i) for i in k[len(name) + 1:-1].split(",")) if "[" in k else (0, 0)
            out.append({"quantity": k, "values": v, "published": p, "ulp": ulps(v, case.dtype),
                        "formula": formula(name, case)[0], "function": formula(name, case)[1],
                        "error_bound": outside(v, float(E[name][at]), case)})
        print(json.dumps({"case": case.name, "schedule": case.schedule, "exit_code": code,
                          "skipped": skipped, "errors": errors, "rows": out}))
        return code
    if found:
        print(render(case, found, compact=args.compact, bounds_e=E))
    lines = ([f"not shown: {name}: {why}" for name, why in skipped.items()]
             + [f"FAIL: {name} raised: {why}" for name, why in errors.items()])
    if lines:
        print("\n" + "\n".join(lines))
    for name, why in errors.items():
        print(f"error: walkthrough: {name} raised on {case.name}: {why}", file=sys.stderr)
    return code

# Published figures of the worked example (Mazur 2015, seed 001), by trace key. These are
# for display beside the computed values; no implementation sees them.
MAZUR_PUBLISHED = {
    "Z1[0,0]": "0.3775", "A1[0,0]": "0.593269992", "A1[1,0]": "0.596884378",
    "Z2[0,0]": "1.105905967", "A2[0,0]": "0.75136507", "A2[1,0]": "0.772928465",
    "E": "0.298371109", "dA1[0,0]": "0.036350306",
    "dW2[0,0]": "0.082167041", "dW1[0,0]": "0.000438568",
    "W2+[0,0]": "0.35891648", "W2+[0,1]": "0.408666186", "W2+[1,0]": "0.511301270",
    "W2+[1,1]": "0.561370121",
    "W1+[0,0]": "0.149780716", "W1+[0,1]": "0.19956143", "W1+[1,0]": "0.24975114",
    "W1+[1,1]": "0.29950229",
}
# The post works these out with the *old* w5..w8 (the simultaneous rule).
OLD_WEIGHTS = {"dA1[0,0]", "dW1[0,0]", "W1+[0,0]", "W1+[0,1]", "W1+[1,0]", "W1+[1,1]"}


def _to_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def mirrored(impl) -> types.SimpleNamespace | None:
    """The implementation's per-formula modules (`network`, `training`), imported here, or
    None when it provides none (the protocol makes them optional)."""
    if impl.elsewhere:  # not importable here: shown only as a whole run, by the judge
        return None
    mods = {}
    for name in ("network", "training"):
        full = f"{impl.module}.{name}"
        try:
            if importlib.util.find_spec(full) is None:
                return None
        except ImportError:
            return None
        mods[name] = importlib.import_module(full)
    for name in ("activations", "losses"):  # optional: diagnose checks factors with them
        try:
            if importlib.util.find_spec(f"{impl.module}.{name}") is not None:
                mods[name] = importlib.import_module(f"{impl.module}.{name}")
        except ImportError:
            pass
    return types.SimpleNamespace(**mods)


def traces(impls: dict, case) -> tuple[dict, dict, dict]:
    """({impl: trace}, {impl: why it is not shown}, {impl: the error it raised}) for the
    implementations in `impls`. Not shown: it does not support the case or has no
    per-formula modules; an error is a failure of that implementation, never a skip."""
    out, skipped, errors = {}, {}, {}
    for name, impl in impls.items():
        why = impl.unsupported(case)
        pkg = None if why else mirrored(impl)
        if pkg is None:
            skipped[name] = why or "it provides no per-formula functions (network, training)"
            continue
        try:
            out[name] = trace(pkg, case)
        except Exception as e:  # noqa: BLE001  (reported as that implementation's failure)
            errors[name] = f"{type(e).__name__}: {e}"
    return out, skipped, errors


def trace(pkg, case, convert=None) -> dict[str, np.ndarray]:
    """Ordered {name: array}: Z[l], A[l], the loss, then per layer going down dZ[l], dW[l],
    db[l], the updated W[l]+ and b[l]+ (when trainable), dA[l-1]; the first batch of the
    case, at its initial parameters, one update by the case's schedule. The batch is taken
    from the case's arrays before they become the framework's tensors, so every framework
    sees the same columns whatever its indexing allows. `convert`: how a value becomes the
    entry (default: a float64 NumPy array of it)."""
    _np = _to_numpy if convert is None else convert
    _, _, p = pkg.training.cast(case)
    X, Y = case.X, case.Y
    if not case.full_batch and case.updates:
        idx = case.batch_order()[0]
        X, Y = X[:, idx], Y[:, idx]
    X, Y = pkg.training.as_array(X, case.dtype), pkg.training.as_array(Y, case.dtype)
    net = pkg.network
    out: dict[str, np.ndarray] = {}
    AL, caches = net.forward_propagation(X, p, case.activations)
    for l, c in enumerate(caches, start=1):
        out[f"Z{l}"], out[f"A{l}"] = _np(c["Z"]), _np(c["A"])
    ZL = caches[-1]["Z"]
    out["E"] = _np(net.compute_loss(AL, ZL, Y, case.loss, case.reduction)).reshape(1, 1)
    dZ = net.output_delta(AL, ZL, Y, case.loss, case.reduction, case.activations[-1])
    new = dict(p)
    trainable = case.trainable_names
    for l in range(case.L, 0, -1):
        dW, db = net.linear_backward_weights(dZ, caches[l - 1]["A_prev"])
        out[f"dZ{l}"], out[f"dW{l}"], out[f"db{l}"] = _np(dZ), _np(dW), _np(db)
        if f"W{l}" in trainable:
            new[f"W{l}"] = p[f"W{l}"] - case.lr * dW
            out[f"W{l}+"] = _np(new[f"W{l}"])
        if f"b{l}" in trainable:
            new[f"b{l}"] = p[f"b{l}"] - case.lr * db
            out[f"b{l}+"] = _np(new[f"b{l}"])
        if l > 1:
            W = new[f"W{l}"] if case.schedule == "sequential" else p[f"W{l}"]
            dA_prev = net.linear_backward_input(dZ, W)
            out[f"dA{l - 1}"] = _np(dA_prev)
            dZ = net.activation_backward(dA_prev, caches[l - 2]["Z"], case.activations[l - 2])
    return out


def formula(name: str, case) -> tuple[str, str]:
    """(formula, `module.function` that computes it in every implementation) of a trace entry
    name such as "Z2", "dW1", "W2+" (comparisons/judge/formulas.py; docs/SPEC.md)."""
    return formulas.named(name, case)


def bounds_of(case) -> dict[str, np.ndarray]:
    """The a-priori rounding bound E (units of u) of every trace entry: the reference's own
    pass on traced arrays (comparisons/judge/bounds.py), in the case's dtype."""
    def traced(a, dtype):
        return bounds.Traced(np.asarray(a, dtype=dtype))

    def cast(c):
        X, Y, params = reference.training.cast(c)
        return X, Y, {k: traced(v, v.dtype) for k, v in params.items()}
    pkg = types.SimpleNamespace(network=reference.network,
                                training=types.SimpleNamespace(cast=cast, as_array=traced))
    with np.errstate(all="ignore"), bounds.context(case.dtype):
        return trace(pkg, case, convert=lambda x: x.bound if isinstance(x, bounds.Traced)
                     else np.zeros(np.shape(x)))


def outside(vals: dict, bound: float, case) -> float:
    """The largest |value - the first column's| in units of the pair bound (u + u) gamma E
    of that entry (> 1: outside its bound)."""
    xs = list(vals.values())
    u = UNIT_ROUNDOFF[case.dtype]
    scale = 2 * u * gamma(case, u) * bound
    diff = max((abs(x - xs[0]) for x in xs[1:]), default=0.0)
    if diff == 0:
        return 0.0
    return diff / scale if scale > 0 else float("inf")


def rows(traces: dict[str, dict], published: dict[str, str]) -> list[tuple]:
    """[(key, {impl: value}, published or '')] element by element."""
    first = next(iter(traces.values()))
    out = []
    for name, arr in first.items():
        for idx in np.ndindex(arr.shape):
            key = name if name == "E" else f"{name}[{','.join(map(str, idx))}]"
            out.append((key, {impl: float(t[name][idx]) for impl, t in traces.items()},
                        published.get(key, "")))
    return out


def ulps(vals: dict, dtype: str) -> int:
    """The largest distance in units in the last place (of `dtype`) between the first column
    and any other: how many representable numbers apart the implementations are."""
    xs = list(vals.values())
    if len(xs) < 2:
        return 0
    a = np.asarray(xs[:1] * (len(xs) - 1), dtype=dtype)
    b = np.asarray(xs[1:], dtype=dtype)
    return int(np.max(ulp_distance(a, b)))


def _layer(name: str) -> int:
    m = re.search(r"(\d+)", name)
    return int(m.group(1)) if m else 0


def intro(case) -> list[str]:
    """The first screen: what is shown, which schedule, and why it differs from the post."""
    lines = [f"walkthrough: {case.name}: one forward and one backward pass on the first batch, "
             f"{case.schedule} schedule, {case.dtype}.",
             "Each group is one formula (docs/SPEC.md) and the function that computes it, the "
             "same name in every implementation's package (reference/ and each autodiff one).",
             "ulp: how many representable numbers apart the columns are; last-digit "
             "differences are rounding (each framework orders the operations its own way), "
             "and TOLERANCES.md bounds them."]
    if case.schedule == "sequential" and case.L > 1:
        lines.append("sequential schedule (the one that reproduces the post's published "
                     "0.291027924): each layer is updated as soon as its gradient is known, and "
                     "dA[l-1] is carried down through the *updated* W[l]+, so dA1, dW1 and W1+ "
                     "differ from the post's hand-worked values, which use the old weights. "
                     "`--schedule simultaneous` shows textbook gradient descent, which "
                     "matches them.")
    elif case.name.startswith("mazur"):
        lines.append("simultaneous schedule (textbook gradient descent): every gradient at "
                     "the old weights, as the post works them out by hand; the post's "
                     "published trajectory (0.291027924 after one update) is the sequential "
                     "one's (`--schedule sequential`).")
    return lines


def render(case, traces: dict[str, dict], max_rows: int = 120, compact: bool | None = None,
           bounds_e: dict | None = None) -> str:
    """The table, grouped by layer and formula; `compact` (default: when there are more than
    `max_rows` elements) gives one row per tensor: its first element and the largest ULP. The
    columns are as wide as their widest entry; a row whose values differ by more than their
    bound (`bounds_e`: bounds_of(case)) is marked, with its error/bound."""
    published = dict(MAZUR_PUBLISHED) if case.name.startswith("mazur") else {}
    if case.schedule == "sequential":
        published.update({k: f"{published[k]} (post: with the old w5..w8)" for k in OLD_WEIGHTS
                          if k in published})
    impls = list(traces)
    first = next(iter(traces.values()))
    elements = sum(a.size for a in first.values())
    compact = elements > max_rows if compact is None else compact
    lines = intro(case)
    if compact:
        lines.append(f"compact: {elements} elements; one row per tensor (its element [0,0] and "
                     "the largest ulp over its elements); `--json` or `--full` gives every one.")
    table = rows(traces, published)
    by_name: dict[str, list] = {}
    for key, vals, pub in table:
        by_name.setdefault(key.split("[")[0], []).append((key, vals, pub))
    shown = []  # (name, key, values, ulp, published, error/bound or None)
    for name, entries in by_name.items():
        ratios = [outside(v, float(bounds_e[name].flat[n]), case) if bounds_e else None
                  for n, (_, v, _) in enumerate(entries)]
        if compact:
            key, vals, pub = entries[0]
            worst = max(ulps(v, case.dtype) for _, v, _ in entries)
            more = f"   (+{len(entries) - 1} more)" if len(entries) > 1 else ""
            top = max(ratios) if bounds_e else None
            shown.append((name, key, vals, worst, (f"   {pub}" if pub else "") + more, top))
        else:
            shown += [(name, key, vals, ulps(vals, case.dtype), f"   {pub}" if pub else "", r)
                      for (key, vals, pub), r in zip(entries, ratios)]
    kw = max([len("quantity")] + [len(x[1]) for x in shown])
    vw = max([24] + [len(i) for i in impls] + [len(f"{v:.17g}") for x in shown
                                                 for v in x[2].values()])
    uw = max([3] + [len(str(x[3])) for x in shown])
    lines += ["", f"{'quantity':<{kw}}" + "".join(f"  {i:>{vw}}" for i in impls)
              + f"  {'ulp':>{uw}}" + "   published"]
    section = None
    for name, key, vals, ulp, tail, ratio in shown:
        forward = not name.startswith("d") and not name.endswith("+") and name != "E"
        here = ("forward, layer %d" % _layer(name) if forward else
                "loss" if name == "E" else "backward, layer %d" % (_layer(name) + (
                    1 if name.startswith("dA") else 0)))
        if here != section:
            section = here
            lines += ["", f"-- {here} " + "-" * 40]
        if key == next(x[1] for x in shown if x[0] == name):
            f, fn = formula(name, case)
            lines.append(f"   {f}    [{fn}]")
        mark = (f"   <- outside its bound: error/bound {ratio:.3g}"
                if ratio is not None and ratio > 1 else "")
        lines.append(f"{key:<{kw}}" + "".join(f"  {vals[i]:>{vw}.17g}" for i in impls)
                     + f"  {ulp:>{uw}}" + tail + mark)
    outside_rows = sum(1 for x in shown if x[5] is not None and x[5] > 1)
    if bounds_e is not None:
        lines += ["", f"{outside_rows} row(s) outside their bound: (u + u) gamma E, E the "
                      "a-priori bound of the reference's own pass (TOLERANCES.md)"]
    return "\n".join(lines)
