"""Plausible bugs, and harmless rewrites, planted in a copy of the reference: the mutation test
of the judge's sharpness (tests/test_mutations.py, tools/scale-mutants.py, TOLERANCES.md "How
sharp"). A catalogue of bugs beside the catalogue of cases.

A mutant is (id, file in reference/, text, replacement). Each text must occur exactly once, so
a mutant never silently stops applying when the reference changes. The copy is the reference's
formulas alone: what the judge traces stays the judge's (comparisons/judge/)."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
from pathlib import Path

import numpy as np

from comparisons import catalogue

REFERENCE = Path(importlib.util.find_spec("reference").origin).resolve().parent

# Bugs: the main job must fail on each.
BUGS = [
    ("sigmoid-derivative-in-float32", "activations.py",
     "    A = sigmoid(Z)\n    return A * (1 - A)",
     "    A = sigmoid(Z.astype(np.float32)).astype(Z.dtype)\n    return A * (1 - A)"),
    ("tanh-derivative-without-square", "activations.py",
     "    return 1 - A * A", "    return 1 - A"),
    ("relu-derivative-at-zero-is-one", "activations.py",
     "    return (Z > 0).astype(Z.dtype)", "    return (Z >= 0).astype(Z.dtype)"),
    ("leaky-slope-stored-in-float32", "activations.py",
     "return np.where(Z > 0, 1, LEAKY_RELU_SLOPE).astype(Z.dtype)",
     "return np.where(Z > 0, 1, np.float32(LEAKY_RELU_SLOPE)).astype(Z.dtype)"),
    ("mean-over-m-minus-1", "losses.py",
     '    return 1.0 if reduction == "sum" else 1.0 / m',
     '    return 1.0 if reduction == "sum" else 1.0 / max(m - 1, 1)'),
    ("mse-divided-by-m-not-n", "losses.py",
     "    return 2 * (A - Y) / A.shape[0] * reduction_factor(reduction, A.shape[1])",
     "    return 2 * (A - Y) / A.shape[1] * reduction_factor(reduction, A.shape[1])"),
    ("cce-delta-through-sigmoid", "losses.py",
     '    A = sigmoid(ZL) if loss == "bce" else softmax(ZL)', "    A = sigmoid(ZL)"),
    ("db-averaged-again", "network.py",
     "    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)",
     "    return dZ @ A_prev.T, dZ.mean(axis=1, keepdims=True)"),
    ("sequential-through-old-weights", "training.py",
     '            dA_prev = linear_backward_input(dZ, new[f"W{l}"])',
     '            dA_prev = linear_backward_input(dZ, params[f"W{l}"])'),
    ("frozen-parameters-updated", "training.py",
     "    new = dict(params)\n    for k in trainable:",
     "    new = dict(params)\n    for k in params:"),
    ("labels-of-the-first-batch", "training.py",
     "            losses[i], params = step(params, X[:, idx], Y[:, idx], *net, lr, trainable)",
     "            losses[i], params = step(params, X[:, idx], Y[:, first], *net, lr, trainable)"),
    ("loss-after-the-update", "training.py",
     "            losses[i], params = step(params, X[:, idx], Y[:, idx], *net, lr, trainable)",
     "            _, params = step(params, X[:, idx], Y[:, idx], *net, lr, trainable)\n"
     "            AL_, c_ = forward_propagation(X[:, idx], params, case.activations)\n"
     "            losses[i] = compute_loss(AL_, c_[-1]['Z'], Y[:, idx], case.loss, case.reduction)"),
    ("lr-applied-twice-to-biases", "training.py",
     '            new[f"b{l}"] = params[f"b{l}"] - lr * db',
     '            new[f"b{l}"] = params[f"b{l}"] - lr * lr * db'),
    ("softplus-without-log1p", "losses.py",
     "    return np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))",
     "    return np.maximum(Z, 0) + np.log(1 + np.exp(-np.abs(Z)))"),
    # The optimizers' (issue #31): each shows in the catalogue's optim-* cases.
    ("adam-epsilon-inside-the-root", "optimizers.py",
     "    return np.sqrt(V_hat) + eps", "    return np.sqrt(V_hat + eps)"),
    ("adam-bias-correction-of-t-minus-1", "optimizers.py",
     "adam_direction(M, V, k_new,", "adam_direction(M, V, k_new - 1,"),
    ("adam-second-moment-uncorrected", "optimizers.py",
     "    V_hat = V / (bias_correction(beta2, k) if corrected else 1.0)", "    V_hat = V"),
    ("adam-first-moment-uncorrected", "optimizers.py",
     "    return (M / c1) / den", "    return M / den"),
    ("decay-after-the-step", "optimizers.py",
     "            new[k] = sgd_step(P, adam_direction(",
     "            new[k] = (1 - lr * wd) * sgd_step(P / (1 - lr * wd), adam_direction("),
    ("decay-not-times-lr", "optimizers.py",
     '            P = decayed_weights(P, lr, wd, o["decay_lr"])',
     "            P = decayed_weights(P, lr, wd, False)"),
    ("momentum-dampening-dropped", "optimizers.py",
     "    return momentum * B + (1 - dampening) * dP", "    return momentum * B + dP"),
    ("clipping-by-each-tensors-norm", "optimizers.py",
     "    norm = global_norm(grads)\n"
     "    c = clip_factor(norm, max_norm, eps)\n"
     "    return {k: clipped(dP, c, norm, max_norm) for k, dP in grads.items()}",
     "    return {k: dP * clip_factor(global_norm({k: dP}), max_norm, eps)\n"
     "            for k, dP in grads.items()}"),
    ("schedule-one-update-late", "optimizers.py",
     '    position = t + lr_schedule["offset"]', '    position = t + lr_schedule["offset"] + 1'),
    # Reduced precision's (issue #32): each shows in the catalogue's cases with a policy.
    ("output-in-the-compute-dtype", "precision.py",
     "to_compute, to_output, to_params = points(round_to)\n",
     "to_compute, to_output, to_params = points(round_to)\nto_output = to_compute\n"),
    ("update-on-low-master-weights", "precision.py",
     "to_compute, to_output, to_params = points(round_to)\n",
     "to_compute, to_output, to_params = points(round_to)\nto_params = to_compute\n"),
    ("products-summed-in-the-compute-dtype", "network.py",
     "    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)",
     "    from .precision import current, round_to\n"
     "    p, dW = current(), 0 * (dZ[:, :1] @ A_prev[:, :1].T)\n"
     "    for j in range(dZ.shape[1]):  # the sum of dW's terms, rounded after each one\n"
     "        dW = dW + dZ[:, j:j + 1] @ A_prev[:, j:j + 1].T\n"
     "        dW = dW if p is None else round_to(dW, p['compute'])\n"
     "    return dW, dZ.sum(axis=1, keepdims=True)"),
]

# Rewrites with other rounding but the same mathematics: the main job must pass on each.
EQUIVALENT = [
    ("softmax-times-reciprocal", "activations.py",
     "    return E / E.sum(axis=0, keepdims=True)",
     "    return E * (1 / E.sum(axis=0, keepdims=True))"),
    ("half-sse-halved-after", "losses.py",
     "    return reduce(0.5 * (D * D).sum(axis=0), reduction)",
     "    return reduce((D * D).sum(axis=0) / 2, reduction)"),
    ("sigmoid-derivative-expanded", "activations.py",
     "    A = sigmoid(Z)\n    return A * (1 - A)", "    A = sigmoid(Z)\n    return A - A * A"),
    ("dw-as-transposed-product", "network.py",
     "    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)",
     "    return (A_prev @ dZ.T).T, dZ.sum(axis=1, keepdims=True)"),
]

# A relative error of {eps} planted in one formula each (issue #20's list): at realistic width
# 1e-4 in float32 and 1e-11 in float64 must fail (tests/test_mutations.py, TOLERANCES.md).
SCALED = [
    ("tanh", "activations.py", "    return np.tanh(Z)\n", "    return np.tanh(Z) * (1 + {eps})\n"),
    ("tanh-derivative", "activations.py", "    return 1 - A * A",
     "    return (1 - A * A) * (1 + {eps})"),
    ("relu", "activations.py", "    return np.maximum(Z, 0)\n",
     "    return np.maximum(Z, 0) * (1 + {eps})\n"),
    ("relu-derivative", "activations.py", "    return (Z > 0).astype(Z.dtype)",
     "    return (Z > 0).astype(Z.dtype) * (1 + {eps})"),
    ("dW", "network.py", "    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)",
     "    return (dZ @ A_prev.T) * (1 + {eps}), dZ.sum(axis=1, keepdims=True)"),
    ("db", "network.py", "    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)",
     "    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True) * (1 + {eps})"),
    ("dA", "network.py", "    return W.T @ dZ", "    return (W.T @ dZ) * (1 + {eps})"),
    ("output-delta", "losses.py",
     '    A = sigmoid(ZL) if loss == "bce" else softmax(ZL)\n    return (A - Y) * reduction_factor(',
     '    A = sigmoid(ZL) if loss == "bce" else softmax(ZL)\n    return (1 + {eps}) * (A - Y) * reduction_factor('),
    ("update", "training.py",
     "            losses[i], params = step(params, X[:, idx], Y[:, idx], *net, lr, trainable)",
     "            losses[i], params = step(params, X[:, idx], Y[:, idx], *net, lr * (1 + {eps}),"
     " trainable)"),
]


# The networks they are planted in: the wide catalogue cases and each in the other dtype
# (name: (catalogue case, dtype or None for its own)).
WIDE = {"tanh-float32": ("wide-tanh-float32", None), "relu-float64": ("wide-relu-float64", None),
        "tanh-float64": ("wide-tanh-float32", "float64"),
        "relu-float32": ("wide-relu-float64", "float32")}


# The optimizer bugs (BUGS in optimizers.py) at realistic width: each planted in
# wide-adamw-cosine-float32, or in its variant that exercises it (issue #31, item 7).
WIDE_OPTIMIZED = "wide-adamw-cosine-float32"
WIDE_VARIANTS = {
    "clipping-by-each-tensors-norm": {"clip": {"max_norm": 0.05, "eps": 0.0}},
    # the bug moves P[k+1] by lr^2 lambda |D|: 1e-8 of P at the case's lr 1e-3 and lambda 0.01,
    # below float32's rounding of P[k+1] itself; at lr 0.01 and lambda 0.1, 1e-5 of the step
    "decay-after-the-step": {"optimizer": {"name": "adamw", "beta1": 0.9, "beta2": 0.999,
                                           "eps": 1e-8, "epsilon": "outside",
                                           "bias_correction": True, "weight_decay": 0.1,
                                           "decay": "decoupled", "decay_lr": True},
                             "lr": 0.01},
    "momentum-dampening-dropped": {"optimizer": {"name": "momentum", "momentum": 0.9,
                                                 "dampening": 0.5, "nesterov": False,
                                                 "velocity": "lr_outside", "weight_decay": 0.0,
                                                 "decay": "coupled", "decay_lr": True},
                                   "lr": 0.01},
}


def wide_optimized_case(bug: str):
    """The wide AdamW case, or the variant of it that exercises `bug` (WIDE_VARIANTS)."""
    c = catalogue.get(WIDE_OPTIMIZED)
    changes = WIDE_VARIANTS.get(bug)
    return c.replace(name=f"{c.name}-{bug}", **changes) if changes else c


def wide_case(key: str):
    """The catalogue case of WIDE[key], in its dtype."""
    name, dtype = WIDE[key]
    c = catalogue.get(name)
    return c.replace(dtype=dtype, name=f"{name}-as-{dtype}") if dtype else c


def scaled_for(key: str) -> list:
    """The SCALED mutants that apply to WIDE[key]: the activation mutants of its activation."""
    act = key.split("-")[0]
    return [m for m in SCALED if not (m[0].startswith(("tanh", "relu"))
                                      and not m[0].startswith(act))]


def scaled(mutant, eps: float):
    """A SCALED mutant with its relative error set to eps."""
    name, file, old, new = mutant
    return (f"{name}-{eps:g}", file, old, new.format(eps=repr(eps)))


def plant(directory: Path, package: str, mutant=None) -> str:
    """Copy the reference to directory/package, apply `mutant` (or none), name the copy's
    implementation `package`; returns the module path to give --impl."""
    dest = directory / package
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    init = dest / "__init__.py"
    text = init.read_text()
    assert text.count('"name": "reference"') == 1
    init.write_text(text.replace('"name": "reference"', f'"name": "{package.replace("_", "-")}"'))
    if mutant is not None:
        _, file, old, new = mutant
        path = dest / file
        source = path.read_text()
        assert source.count(old) == 1, f"mutant {mutant[0]}: its text occurs {source.count(old)} times"
        path.write_text(source.replace(old, new))
    return package


# --- Defects of one update -------------------------------------------------------------------
#
# The power of local judging at every update (TOLERANCES.md, "Every update, one step";
# tools/intermittent.py, tests/test_local.py): a float32 one-update result with a defect of
# relative size `error` planted in it, as an implementation with an intermittent defect (a
# data-dependent kernel path, a schedule's step, a bias correction's t) would return it.

ONE_UPDATE = {
    "dW": "dW2 off: the gradients at P[k] and the update they make (P[k+1], A[L] after it)",
    "loss": "the loss before the update off",
    "step": "the update's step alone, lr * dW2, off: P[k+1] and A[L] after it",
}


def planted_update(case, params, result, kind: str, error: float, forward):
    """`result`, the float32 one-update run of `case` from `params`, with the defect `kind`
    (ONE_UPDATE) of relative size `error`, recomputed in float32 where it moves later values;
    `forward(X, params, activations)` -> (A[L], caches) computes A[L] after the update (the
    reference's forward pass: this package imports no implementation)."""
    f32 = np.float32
    if kind not in ONE_UPDATE:
        raise ValueError(f"kind: {kind!r}, expected one of {', '.join(ONE_UPDATE)}")
    if kind == "loss":
        losses = np.asarray(result.losses, dtype=f32).copy()
        losses[0] = f32(losses[0] * (1 + error))
        return dataclasses.replace(result, losses=losses)
    W = np.asarray(params["W2"], dtype=f32)
    g = np.asarray(result.gradients["W2"], dtype=f32)
    grads = dict(result.gradients)
    if kind == "dW":
        g = (g * (1 + error)).astype(f32)
        grads["W2"] = g
        new = W - f32(case.lr) * g
    else:  # the step alone
        new = (W - (f32(case.lr) * g).astype(np.float64) * (1 + error)).astype(f32)
    final = dict(result.final_params, W2=new)
    AL, _ = forward(case.X.astype(f32), {k: np.asarray(v, dtype=f32) for k, v in final.items()},
                    case.activations)
    return dataclasses.replace(result, gradients=grads, final_params=final, final_outputs=AL)
