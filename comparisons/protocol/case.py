"""The framework-neutral description of a network, its data and its training run.

One `Case` feeds every implementation, the reference included. It holds plain NumPy float64
data only; each implementation casts it to the case's dtype itself. This module is shared, not
mirrored: it contains no formula of the forward or backward pass.

Conventions (seeds 000 and 004): layers l = 1..L, `layers` = [n[0], ..., n[L]],
W[l] is (n[l], n[l-1]), b[l] is (n[l], 1), X is (n[0], m), Y is (n[L], m).

Bad input raises `CaseError`, a ValueError whose message is one line naming the field,
the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import re
import reprlib
from pathlib import Path
from typing import Any

import numpy as np

from .cost import DEFAULT_MAX_MEMORY, MAX_FILE_BYTES, Cost, cost_of, format_bytes

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax")
LOSSES = ("half_sse", "mse", "bce", "cce")
REDUCTIONS = ("sum", "mean")
SCHEDULES = ("simultaneous", "sequential")
DTYPES = ("float64", "float32")
INIT_SCHEMES = ("glorot_uniform", "he_normal", "normal", "uniform")
DATA_GENERATORS = ("logic", "blobs", "regression")
LOGIC_FUNCTIONS = {"and": (0, 0, 0, 1), "or": (0, 1, 1, 1), "xor": (0, 1, 1, 0)}
# Output activations each loss accepts. bce and cce are evaluated from the logits Z[L],
# which needs the matching output activation; softmax only makes sense with cce.
LOSS_OUTPUT_ACTIVATIONS = {
    "half_sse": ("sigmoid", "tanh", "relu", "leaky_relu", "identity"),
    "mse": ("sigmoid", "tanh", "relu", "leaky_relu", "identity"),
    "bce": ("sigmoid",),
    "cce": ("softmax",),
}
MAX_UPDATES = 10_000_000

# The optimizer, the learning-rate schedule and gradient clipping (docs/CASES.md, "Optimizers";
# the formulas: reference/optimizers.py, docs/SPEC.md). Each optimizer's fields and their
# defaults (PyTorch's, where it has one); the conventions in which frameworks differ are
# fields of their own, never implied by a framework's name.
OPTIMIZERS = {
    "sgd": {"weight_decay": 0.0, "decay": "coupled", "decay_lr": True},
    "momentum": {"momentum": 0.9, "dampening": 0.0, "nesterov": False, "velocity": "lr_outside",
                 "weight_decay": 0.0, "decay": "coupled", "decay_lr": True},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "epsilon": "outside",
             "bias_correction": True, "weight_decay": 0.0, "decay": "coupled", "decay_lr": True},
    "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "epsilon": "outside",
              "bias_correction": True, "weight_decay": 0.01, "decay": "decoupled",
              "decay_lr": True},
}
# The optimizer's state beside its step count: per trainable parameter, its velocity B or its
# moments M and V (reference/optimizers.py; the results block's final_state)
OPTIMIZER_SLOTS = {"sgd": (), "momentum": ("B",), "adam": ("M", "V"), "adamw": ("M", "V")}


def slots_of(optimizer: dict | None) -> tuple[str, ...]:
    """The state slots of a (filled-in) optimizer, or of plain SGD for None."""
    return OPTIMIZER_SLOTS[(optimizer or {"name": "sgd"})["name"]]


def beyond_sgd(optimizer: dict | None) -> bool:
    """An optimizer with a state or a decay: more than W -= lr dW."""
    return optimizer is not None and (optimizer["name"] != "sgd"
                                      or bool(optimizer["weight_decay"]))


def map_state(state: dict, fn) -> dict:
    """An optimizer's state {"step": k, slot: {name: array}} with `fn` applied to each
    array (the step as an int)."""
    return {s: int(v) if s == "step" else {k: fn(a) for k, a in v.items()}
            for s, v in state.items()}
DECAYS = ("coupled", "decoupled")
EPSILONS = ("outside", "inside", "hat")
VELOCITIES = ("lr_outside", "lr_inside")
LR_SCHEDULES = {
    "constant": {},
    "step": {"step_size": None, "gamma": None},
    "cosine": {"decay_steps": None, "warmup": 0, "start_factor": 0.0, "final_factor": 0.0},
}
CLIP = {"max_norm": None, "eps": 0.0}
# Reduced precision (docs/CASES.md, "Reduced precision"; issue #32): where a run rounds to
# bfloat16 or float16 while its master weights stay in the case's dtype (float32). Each field
# is a dtype; the reference rounds exactly there (reference/precision.py):
#   compute     the operands and result of every matrix product, and the hidden layers' Z, A,
#               dA, dZ (every value between two products);
#   accumulate  the dtype the matrix products' sums (and db's) run in: float32 (a sum rounded
#               to the low dtype after every term is not modelled yet, TOLERANCES.md);
#   output      the output layer's activation, the loss and dZ[L];
#   params      the parameters after each update (the optimizer's state stays in the case's
#               dtype).
LOW_DTYPES = ("bfloat16", "float16")
MASTER = "float32"  # a policy's master dtype (its oracle's Case is float64: oracle.oracle_case)
PRECISION_FIELDS = ("compute", "accumulate", "output", "params")
# The policies people run, by name. "bf16": the model and its data cast to bfloat16
# (model.to(torch.bfloat16)); CPU and GPU kernels still sum products in float32.
# "autocast-bf16": products in bfloat16 with float32 sums, the output layer, the loss and the
# update in float32 (torch.autocast on CUDA, Keras's mixed_bfloat16 for its losses).
PRECISION_POLICIES = {
    "bf16": {"compute": "bfloat16", "accumulate": "float32", "output": "bfloat16",
             "params": "bfloat16"},
    "autocast-bf16": {"compute": "bfloat16", "accumulate": "float32", "output": "float32",
                      "params": "float32"},
    "autocast-fp16": {"compute": "float16", "accumulate": "float32", "output": "float32",
                      "params": "float32"},
}


def check_precision(value: Any, dtype: str, schedule: str = "simultaneous",
                    stateful: bool = False) -> dict:
    """precision: a policy's name or {compute, accumulate, output, params}, filled in (the
    named policy's fields, or compute's dtype for output and params and float32 for
    accumulate), with "name" where it is a named policy's. `stateful`: the case's update
    has an optimizer's state, a decay or clipping (Case.stateful)."""
    f = "precision"
    if dtype != MASTER:
        _fail(f"{f}: a reduced-precision policy keeps the master weights in the case's dtype, "
              f"which must be {MASTER}; got dtype {dtype!r}")
    dtype = MASTER
    if schedule != "simultaneous":
        _fail(f"{f}: a reduced-precision policy applies to the simultaneous schedule (every "
              f"gradient, then every update); got schedule {schedule!r}")
    if isinstance(value, str):
        if value not in PRECISION_POLICIES:
            _fail(f"{f}: unknown policy {_short(value)}; expected one of "
                  f"{', '.join(PRECISION_POLICIES)}, or an object with "
                  f"{', '.join(PRECISION_FIELDS)}")
        value = PRECISION_POLICIES[value]
    if not isinstance(value, dict):
        _fail(f"{f}: expected a policy's name ({', '.join(PRECISION_POLICIES)}) or an object "
              f"with {', '.join(PRECISION_FIELDS)}, got {_short(value)}")
    for k in value:
        if k not in PRECISION_FIELDS:
            _fail(f"{f}.{_key(k)}: unknown field; expected {', '.join(PRECISION_FIELDS)}")
    if "compute" not in value:
        _fail(f"{f}.compute: missing; a policy needs the low dtype its products compute in "
              f"({' or '.join(LOW_DTYPES)})")
    _choice(f"{f}.compute", value["compute"], LOW_DTYPES)
    low = value["compute"]
    p = {"compute": low, "accumulate": value.get("accumulate", dtype),
         "output": value.get("output", low), "params": value.get("params", low)}
    if p["accumulate"] != dtype:  # what CPU and GPU kernels do; sums rounded to the low
        # dtype after every term are not modelled at the probabilistic level (TOLERANCES.md)
        _fail(f"{f}.accumulate: expected {dtype!r} (products summed in {dtype}, as the "
              f"kernels sum them), got {_short(p['accumulate'])}")
    for k in ("output", "params"):
        if p[k] not in (dtype, low):  # bfloat16 next to float16 rounds twice, to neither
            _fail(f"{f}.{k}: expected {dtype!r} or the compute dtype {low!r}, got "
                  f"{_short(p[k])}")
    if stateful and p["params"] != dtype:
        _fail(f"{f}.params: {p['params']} parameters are updated by plain SGD here; with an "
              f"optimizer's state, a decay or clipping keep them (the master weights) in "
              f"{dtype} (params: {dtype!r})")
    named = [n for n, q in PRECISION_POLICIES.items() if q == p]
    return ({"name": named[0]} if named else {}) | p


def unknown_precision_feature(glob: str) -> str | None:
    """Why a glob over precision features ("compute:bfloat16", "output:*") can match none, or
    None when it can: a misspelt field or dtype would skip every policy case silently."""
    if glob == "*":
        return None
    field, _, value = glob.partition(":")
    fields = [k for k in PRECISION_FIELDS if fnmatch.fnmatchcase(k, field)]
    if not fields:
        return f"unknown field {field!r}; expected one of {', '.join(PRECISION_FIELDS)}"
    dtypes = LOW_DTYPES + (MASTER,)
    if not value or not any(fnmatch.fnmatchcase(d, value) for d in dtypes):
        return f"expected FIELD:DTYPE with a dtype among {', '.join(dtypes)}, got {glob!r}"
    return None


def policy_label(precision: dict | None) -> str:
    """A policy as reports show it: its name, or its fields ("bfloat16, accumulate float32,
    output float32, params bfloat16"); "" for none."""
    if precision is None:
        return ""
    return precision.get("name") or ", ".join(
        [precision["compute"]] + [f"{k} {precision[k]}" for k in PRECISION_FIELDS[1:]])


def precision_features(c) -> list[str]:
    """What the case's policy needs of an implementation, as the names its declaration lists
    (registry, "reduced_precision"): ["compute:bfloat16", "accumulate:float32", ...]; [] for
    a case without one."""
    if c.precision is None:
        return []
    return [f"{k}:{c.precision[k]}" for k in PRECISION_FIELDS]


# What an implementation supports unless it declares more (registry, "training"): today's
# update, W -= lr dW at a constant lr.
PLAIN_TRAINING = ("optimizer:sgd", "lr_schedule:constant")

_TOP_KEYS = {"name", "description", "source", "dtype", "precision", "layers", "activations",
             "loss", "reduction", "params", "init", "X", "Y", "data", "train"}
_TRAIN_KEYS = {"lr", "epochs", "batch_size", "shuffle_seed", "schedule", "trainable", "batches",
               "optimizer", "lr_schedule", "clip", "state"}


class CaseError(ValueError):
    """A case description is invalid; the message is one line for the user."""


def param_names(L: int) -> list[str]:
    """Parameter names in layer order: W1, b1, ..., WL, bL."""
    return [f"{p}{l}" for l in range(1, L + 1) for p in ("W", "b")]


def param_shape(name: str, layers: list[int]) -> tuple[int, int]:
    """The seeds' shape rule: W[l] is (n[l], n[l-1]), b[l] is (n[l], 1)."""
    l = int(name[1:])
    return (layers[l], layers[l - 1]) if name[0] == "W" else (layers[l], 1)


def shape_rule(name: str, layers: list[int]) -> str:
    l = int(name[1:])
    if name[0] == "W":
        return f"n[{l}]={layers[l]}, n[{l - 1}]={layers[l - 1]}"
    return f"n[{l}]={layers[l]}"


def batch_order(m: int, batch_size: int | None, epochs: int,
                shuffle_seed: int | None) -> list[np.ndarray]:
    """The batch order of a run, as data: one int64 index array per update.

    Each epoch visits the m samples once, in slices of `batch_size` (None = all m; the last
    slice may be shorter). Without a seed the samples keep data order; with one, each epoch
    uses the next `numpy.random.default_rng(shuffle_seed).permutation(m)`. Produced once
    here, so every implementation trains on exactly the same batches.
    """
    bs = m if batch_size is None else batch_size
    rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
    order = np.arange(m, dtype=np.int64)
    batches = []
    for _ in range(epochs):
        perm = order if rng is None else rng.permutation(m).astype(np.int64)
        batches.extend(perm[i:i + bs] for i in range(0, m, bs))
    return batches


@dataclasses.dataclass
class Case:
    """A validated case. Arrays are float64 as given; `dtype` says what to compute in."""

    name: str
    layers: list[int]
    activations: list[str]
    loss: str
    reduction: str
    params: dict[str, np.ndarray]
    X: np.ndarray
    Y: np.ndarray
    lr: float
    epochs: int
    batch_size: int | None = None
    shuffle_seed: int | None = None
    schedule: str = "simultaneous"
    trainable: tuple[str, ...] | None = None
    batches: list[np.ndarray] | None = None
    dtype: str = "float64"
    description: str = ""
    source: str = ""
    # None: plain gradient descent at a constant lr, no clipping (every field filled in once
    # validated: see OPTIMIZERS, LR_SCHEDULES, CLIP)
    optimizer: dict | None = None
    lr_schedule: dict | None = None
    clip: dict | None = None
    # The optimizer's state before the first update, for a run that resumes one (a part of a
    # trajectory: protocol.parts): {"step": k, slot: {name: array}}; None: step 0, zeros.
    initial_state: dict | None = None
    # None: every value in `dtype`; else the reduced-precision policy (PRECISION_FIELDS, and
    # "name" for a named one): where the run rounds to bfloat16 or float16
    precision: dict | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def L(self) -> int:
        return len(self.layers) - 1

    @property
    def m(self) -> int:
        return self.X.shape[1]

    @property
    def trainable_names(self) -> tuple[str, ...]:
        return tuple(param_names(self.L)) if self.trainable is None else self.trainable

    @property
    def full_batch(self) -> bool:
        """True when every update uses all m samples in data order (then the batch order
        is `epochs` copies of arange(m) and need not be materialised)."""
        return (self.batches is None and self.shuffle_seed is None
                and (self.batch_size is None or self.batch_size == self.m))

    @property
    def updates(self) -> int:
        """The number of updates of the run."""
        if self.batches is not None:
            return len(self.batches)
        return self.epochs * -(-self.m // (self.batch_size or self.m))

    @property
    def plain(self) -> bool:
        """True for today's update, W[l] -= lr dW[l] at a constant lr without clipping or
        decay (what every implementation runs; see `training_features`)."""
        return set(training_features(self)) <= set(PLAIN_TRAINING)

    @property
    def stateful(self) -> bool:
        """True when an update needs more than plain SGD's step: an optimizer with a state or a
        decay, or clipping (reference/optimizers.py); a schedule alone only changes lr."""
        return self.clip is not None or beyond_sgd(self.optimizer)

    def batch_order(self) -> list[np.ndarray]:
        """The explicit batches if the case gives them, otherwise `batch_order(...)`."""
        if self.batches is not None:
            return [np.asarray(b, dtype=np.int64) for b in self.batches]
        return batch_order(self.m, self.batch_size, self.epochs, self.shuffle_seed)

    def update_batches(self) -> tuple[list, Any]:
        """(the sample indices of every update, those of the first batch), for indexing the
        columns of X: slice(None) (all of X, no copy) when every update uses all of X in data
        order."""
        if self.full_batch or self.updates == 0:
            return [slice(None)] * self.updates, slice(None)
        batches = self.batch_order()
        return batches, batches[0]

    def replace(self, **changes: Any) -> "Case":
        return dataclasses.replace(self, **changes)

    def rounded(self, dtype: str) -> "Case":
        """The same case with its parameters, data and learning rate rounded to `dtype` (and
        kept as float64 numbers). A float32 run computes on exactly these inputs, so the
        float64 reference on them isolates the arithmetic of the float32 run."""
        dt = np.dtype(dtype)
        r = lambda a: np.asarray(a, dtype=dt).astype(np.float64)  # noqa: E731
        return self.replace(params={k: r(v) for k, v in self.params.items()}, X=r(self.X),
                            Y=r(self.Y), lr=float(dt.type(self.lr)))

    def to_dict(self) -> dict:
        """The case as a JSON-ready dict with explicit params and data (floats exact)."""
        train: dict[str, Any] = {"lr": self.lr, "schedule": self.schedule}
        if self.batches is not None:  # the explicit order replaces the three keys below
            train["batches"] = [np.asarray(b).tolist() for b in self.batches]
        else:
            train.update(epochs=self.epochs, batch_size=self.batch_size,
                         shuffle_seed=self.shuffle_seed)
        if self.trainable is not None:
            train["trainable"] = list(self.trainable)
        for k in ("optimizer", "lr_schedule", "clip"):
            if getattr(self, k) is not None:
                train[k] = dict(getattr(self, k))
        if self.initial_state is not None:
            train["state"] = map_state(self.initial_state, np.ndarray.tolist)
        out = {"name": self.name, "description": self.description, "source": self.source,
               "dtype": self.dtype}
        if self.precision is not None:
            out["precision"] = self.precision.get("name") or {
                k: self.precision[k] for k in PRECISION_FIELDS}
        return out | {"layers": list(self.layers), "activations": list(self.activations),
                      "loss": self.loss, "reduction": self.reduction,
                      "params": {k: v.tolist() for k, v in self.params.items()},
                      "X": self.X.tolist(), "Y": self.Y.tolist(), "train": train}


# ---------------------------------------------------------------------------------------------
# Validation. Every check names the field, the value and what was expected. Positions in lists
# are counted from 0, as in the file (`activations[0]` is layer 1's activation); parameters are
# named W1, b1, ... after the layer l = 1..L they belong to, as in the seeds.

def _fail(msg: str) -> None:
    raise CaseError(msg)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 6, 6, 40, 40


def _short(value: Any) -> str:
    text = _REPR.repr(value)  # bounded in depth and length, whatever the value
    return text if len(text) <= 60 else text[:57] + "..."


def _key(k: Any) -> str:
    """A field name as written in the file (bounded, quoted only if it is not a plain name)."""
    return k if isinstance(k, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", k) else _short(k)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    """A finite real number (an int too large for a float is not: 10**400)."""
    try:
        return _is_real(v) and math.isfinite(v)
    except OverflowError:
        return False


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        _fail(f"{field}: unknown value {_short(value)}; expected one of {', '.join(allowed)}")


def _matrix(field: str, value: Any) -> np.ndarray:
    """A finite 2-D float64 array from nested lists, or a CaseError."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
            _fail(f"{field}: expected a non-empty list of rows (a 2-D array), got {_short(value)}")
        widths = {len(r) for r in value}
        if len(widths) != 1 or 0 in widths:
            _fail(f"{field}: rows have lengths {sorted(widths)[:4]}; expected equal, non-zero "
                  "lengths")
        for i, r in enumerate(value):
            for j, x in enumerate(r):
                if not _is_real(x):
                    _fail(f"{field}[{i}][{j}]: {_short(x)} is not a number")
        arr = np.array(value, dtype=np.float64)
    if arr.ndim != 2:
        _fail(f"{field}: expected a 2-D array, got {arr.ndim}-D with shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        _fail(f"{field}: expected real numbers, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        i = tuple(int(x) for x in np.argwhere(~np.isfinite(arr))[0])
        _fail(f"{field}[{i[0]}][{i[1]}]: {arr[i]} is not finite; expected finite numbers")
    return arr


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _check_network(name, dtype, layers, activations, loss, reduction) -> None:
    """The network's structure: cheap checks on names and sizes, no arrays."""
    if not isinstance(name, str) or not _NAME.match(name):
        _fail(f"name: expected 1-100 letters, digits, '.', '_' or '-' (it names report files), "
              f"got {_short(name)}")
    _choice("dtype", dtype, DTYPES)
    if (not isinstance(layers, list) or len(layers) < 2
            or not all(_is_int(n) and n >= 1 for n in layers)):
        _fail(f"layers: expected a list [n[0], ..., n[L]] of at least two positive integers, "
              f"got {_short(layers)}")
    L = len(layers) - 1
    if not isinstance(activations, list) or len(activations) != L:
        _fail(f"activations: expected a list of {L} names (one per layer 1..{L}), "
              f"got {_short(activations)}")
    for i, a in enumerate(activations):
        _choice(f"activations[{i}] (layer {i + 1})", a, ACTIVATIONS)
        if a == "softmax" and i != L - 1:
            _fail(f"activations[{i}] (layer {i + 1}): softmax is only supported on the output "
                  f"layer {L}")
    _choice("loss", loss, LOSSES)
    _choice("reduction", reduction, REDUCTIONS)
    out = activations[-1]
    if out not in LOSS_OUTPUT_ACTIVATIONS[loss]:
        if out == "softmax":
            _fail(f"activations[{L - 1}] (layer {L}): softmax output requires loss 'cce', "
                  f"got {loss!r}")
        _fail(f"loss: {loss!r} requires output activation "
              f"{' or '.join(LOSS_OUTPUT_ACTIVATIONS[loss])}, got {out!r}")
    if loss == "cce" and layers[-1] < 2:
        _fail(f"layers: loss 'cce' needs n[L] >= 2 classes, got n[{L}]={layers[-1]}")


def _check_train(lr, schedule, epochs, batch_size, shuffle_seed, batches, trainable, L, m):
    """The training block's fields; returns them normalised:
    (lr, epochs, batch_size, shuffle_seed, batches as int64 arrays or None, trainable)."""
    if not _finite(lr) or lr <= 0:
        _fail(f"train.lr: expected a positive finite number, got {_short(lr)}")
    _choice("train.schedule", schedule, SCHEDULES)
    names = param_names(L)
    if trainable is not None:
        if not isinstance(trainable, (list, tuple)):
            _fail(f"train.trainable: expected a list of parameter names, got {_short(trainable)}")
        for i, k in enumerate(trainable):
            if k not in names:
                _fail(f"train.trainable[{i}]: unknown parameter {_short(k)}; expected names from "
                      f"{', '.join(names)}")
        trainable = tuple(k for k in names if k in trainable)
    if batches is not None:
        if not isinstance(batches, (list, tuple)) or not len(batches):
            _fail(f"train.batches: expected a non-empty list of index lists, got {_short(batches)}")
        checked = []
        for i, b in enumerate(batches):
            ok = isinstance(b, (list, tuple, np.ndarray)) and len(b) > 0 and all(
                _is_int(j) and 0 <= j < m for j in b)
            if not ok:
                _fail(f"train.batches[{i}]: expected a non-empty list of sample indices in "
                      f"0..{m - 1}, got {_short(b)}")
            checked.append(np.asarray(b, dtype=np.int64))
        batches = checked
        if epochs is None:
            epochs = 1
    if not _is_int(epochs) or epochs < 0:
        _fail(f"train.epochs: expected a non-negative integer, got {_short(epochs)}")
    if batch_size is not None and (not _is_int(batch_size) or not 1 <= batch_size <= m):
        _fail(f"train.batch_size: expected null (full batch) or an integer in 1..{m} (m), "
              f"got {_short(batch_size)}")
    if shuffle_seed is not None and (not _is_int(shuffle_seed) or shuffle_seed < 0):
        _fail(f"train.shuffle_seed: expected null or a non-negative integer, "
              f"got {_short(shuffle_seed)}")
    if batches is None:
        per_epoch = -(-m // (batch_size or m))
        if epochs * per_epoch > MAX_UPDATES:
            _fail(f"train.epochs: {epochs} epochs make {epochs * per_epoch} updates; "
                  f"expected at most {MAX_UPDATES}")
    elif len(batches) > MAX_UPDATES:
        _fail(f"train.batches: {len(batches)} updates; expected at most {MAX_UPDATES}")
    return (float(lr), int(epochs), None if batch_size is None else int(batch_size),
            None if shuffle_seed is None else int(shuffle_seed), batches, trainable)


def _real_in(field: str, value: Any, low: float, high: float, *, low_open=False,
             high_open=False) -> float:
    """A finite real number in [low, high] (an end excluded where *_open), or a CaseError."""
    ok = _finite(value) and (
        value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        _fail(f"{field}: expected a number in {lo}{low:g}, {high:g}{hi}, got {_short(value)}")
    return float(value)


def _int_at_least(field: str, value: Any, low: int) -> int:
    if not _is_int(value) or value < low:
        _fail(f"{field}: expected an integer >= {low}, got {_short(value)}")
    return int(value)


def _fields(field: str, value: Any, names: dict) -> dict:
    """An object {name, ...}: its name one of `names`, no unknown field, defaults filled in,
    and a required field (default None) present."""
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        _fail(f"{field}: expected an object with a name, got {_short(value)}")
    _choice(f"{field}.name", value.get("name"), tuple(names))
    allowed = names[value["name"]]
    for k in value:
        if k != "name" and k not in allowed:
            _fail(f"{field}.{_key(k)}: unknown field for {value['name']!r}; expected "
                  f"{', '.join(sorted(allowed)) or 'only name'}")
    for k, v in value.items():
        if v is None:
            _fail(f"{field}.{k}: expected a value, got null")
    out = {"name": value["name"], **allowed, **value}
    for k, v in out.items():
        if v is None:
            _fail(f"{field}.{k}: missing; {value['name']!r} needs it")
    return out


def _boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        _fail(f"{field}: expected true or false, got {_short(value)}")
    return value


def check_optimizer(value: Any) -> dict:
    """train.optimizer: a name or {name, ...} (OPTIMIZERS), every field filled in."""
    o = _fields("train.optimizer", value, OPTIMIZERS)
    f, name = "train.optimizer", o["name"]
    o["weight_decay"] = _real_in(f"{f}.weight_decay", o["weight_decay"], 0.0, math.inf,
                                 high_open=True)
    _choice(f"{f}.decay", o["decay"], DECAYS)
    o["decay_lr"] = _boolean(f"{f}.decay_lr", o["decay_lr"])
    if name == "adamw" and o["decay"] != "decoupled":
        _fail(f"{f}.decay: adamw's decay is decoupled (Loshchilov & Hutter 2019), got "
              f"{o['decay']!r}; coupled decay (L2 in the gradient) is adam with weight_decay")
    if o["decay"] == "coupled" and not o["decay_lr"]:
        _fail(f"{f}.decay_lr: coupled decay is part of the gradient, so lr multiplies it; "
              "false needs decay 'decoupled'")
    if not o["decay_lr"] and o["weight_decay"] >= 1:
        _fail(f"{f}.weight_decay: without lr the decay multiplies each parameter by "
              f"1 - weight_decay; expected a number in [0, 1), got {o['weight_decay']:g}")
    if name == "momentum":
        o["momentum"] = _real_in(f"{f}.momentum", o["momentum"], 0.0, 1.0, low_open=True,
                                 high_open=True)
        o["dampening"] = _real_in(f"{f}.dampening", o["dampening"], 0.0, 1.0, high_open=True)
        o["nesterov"] = _boolean(f"{f}.nesterov", o["nesterov"])
        _choice(f"{f}.velocity", o["velocity"], VELOCITIES)
        if o["nesterov"] and o["dampening"]:
            _fail(f"{f}.dampening: Nesterov momentum needs dampening 0 (as torch.optim.SGD "
                  f"requires), got {o['dampening']:g}")
        if o["velocity"] == "lr_inside" and o["dampening"]:
            _fail(f"{f}.dampening: the lr_inside velocity (Sutskever et al. 2013) has no "
                  f"dampening; expected 0, got {o['dampening']:g}")
    if name in ("adam", "adamw"):
        for k in ("beta1", "beta2"):
            o[k] = _real_in(f"{f}.{k}", o[k], 0.0, 1.0, high_open=True)
        o["eps"] = _real_in(f"{f}.eps", o["eps"], 0.0, 1.0, low_open=True)
        _choice(f"{f}.epsilon", o["epsilon"], EPSILONS)
        o["bias_correction"] = _boolean(f"{f}.bias_correction", o["bias_correction"])
        if o["epsilon"] == "hat" and not o["bias_correction"]:
            _fail(f"{f}.epsilon: 'hat' folds the bias correction into the step size (Kingma & "
                  "Ba 2015, end of section 2); it needs bias_correction true")
    return o


def check_lr_schedule(value: Any) -> dict:
    """train.lr_schedule: a name or {name, ..., offset} (LR_SCHEDULES), filled in."""
    names = {k: {**v, "offset": 0} for k, v in LR_SCHEDULES.items()}
    s = _fields("train.lr_schedule", value, names)
    f = "train.lr_schedule"
    if not _is_int(s["offset"]) or s["offset"] not in (0, 1):
        _fail(f"{f}.offset: expected 0 (update t uses the rate at position t: the scheduler "
              f"steps after the update) or 1 (it steps before), got {_short(s['offset'])}")
    s["offset"] = int(s["offset"])
    if s["name"] == "step":
        s["step_size"] = _int_at_least(f"{f}.step_size", s["step_size"], 1)
        s["gamma"] = _real_in(f"{f}.gamma", s["gamma"], 0.0, 1.0, low_open=True)
    if s["name"] == "cosine":
        s["decay_steps"] = _int_at_least(f"{f}.decay_steps", s["decay_steps"], 1)
        s["warmup"] = _int_at_least(f"{f}.warmup", s["warmup"], 0)
        for k in ("start_factor", "final_factor"):
            s[k] = _real_in(f"{f}.{k}", s[k], 0.0, 1.0)
        if s["start_factor"] and not s["warmup"]:
            _fail(f"{f}.start_factor: {s['start_factor']:g} starts a warm-up, but warmup is 0; "
                  "give warmup >= 1 or leave start_factor out")
    return s


def check_clip(value: Any) -> dict:
    """train.clip: {max_norm, eps} (CLIP), filled in."""
    if not isinstance(value, dict):
        _fail(f"train.clip: expected an object with max_norm, got {_short(value)}")
    for k in value:
        if k not in CLIP:
            _fail(f"train.clip.{_key(k)}: unknown field; expected {', '.join(CLIP)}")
    if value.get("max_norm") is None:
        _fail("train.clip.max_norm: missing; clipping needs the largest global norm")
    return {"max_norm": _real_in("train.clip.max_norm", value["max_norm"], 0.0, math.inf,
                                 low_open=True, high_open=True),
            "eps": _real_in("train.clip.eps", value.get("eps", CLIP["eps"]), 0.0, 1.0)}


def check_training(optimizer: Any, lr_schedule: Any, clip: Any, schedule: str, lr: float):
    """The optimizer, the schedule and clipping, checked and filled in (None stays None); an
    optimizer other than plain SGD, or clipping, with the sequential schedule is refused, and
    a decay that would zero or flip the parameters (lr lambda >= 1; no schedule raises lr)."""
    o = None if optimizer is None else check_optimizer(optimizer)
    if o is not None and o["decay_lr"] and lr * o["weight_decay"] >= 1:
        _fail(f"train.optimizer.weight_decay: lr * weight_decay = {lr * o['weight_decay']:g} "
              "multiplies each parameter by 1 - lr * weight_decay <= 0; expected "
              f"weight_decay < 1 / lr = {1 / lr:g}")
    s = None if lr_schedule is None else check_lr_schedule(lr_schedule)
    c = None if clip is None else check_clip(clip)
    if schedule == "sequential":
        if beyond_sgd(o):
            _fail(f"train.optimizer: {o['name']}"
                  f"{' with weight_decay' if o['name'] == 'sgd' else ''} applies to the "
                  "simultaneous schedule, where every gradient is known before any parameter "
                  "moves; the sequential schedule updates layer by layer with plain SGD")
        if c is not None:
            _fail("train.clip: the global norm needs every gradient before any parameter "
                  "moves (the simultaneous schedule); the sequential schedule updates layer by "
                  "layer")
    return o, s, c


def check_state(state: Any, c) -> dict:
    """train.state: the optimizer's state the run resumes from, {"step": k >= 0, and for each
    of the optimizer's slots (OPTIMIZER_SLOTS) an array per trainable parameter, in its
    shape}; returned with float64 arrays."""
    f = "train.state"
    if not isinstance(state, dict):
        _fail(f"{f}: expected an object with step and the optimizer's slots, got {_short(state)}")
    if not _is_int(state.get("step")) or state["step"] < 0:
        _fail(f"{f}.step: expected a non-negative integer (the updates done before), got "
              f"{_short(state.get('step'))}")
    name = (c.optimizer or {"name": "sgd"})["name"]
    slots = slots_of(c.optimizer)
    for k in state:
        if k != "step" and k not in slots:
            _fail(f"{f}.{_key(k)}: unknown slot for {name!r}; expected step"
                  + "".join(f", {x}" for x in slots))
    out: dict = {"step": int(state["step"])}
    for slot in slots:
        arrays = state.get(slot)
        if not isinstance(arrays, dict):
            _fail(f"{f}.{slot}: missing; {name!r} keeps {slot} for every trainable parameter")
        for k in arrays:
            if k not in c.trainable_names:
                _fail(f"{f}.{slot}.{_key(k)}: not a trainable parameter; expected "
                      f"{', '.join(c.trainable_names)}")
        out[slot] = {}
        for k in c.trainable_names:
            if k not in arrays:
                _fail(f"{f}.{slot}.{k}: missing")
            arr = _matrix(f"{f}.{slot}.{k}", arrays[k])
            if arr.shape != param_shape(k, c.layers):
                _fail(f"{f}.{slot}.{k} has shape {arr.shape}, but {k} has "
                      f"{param_shape(k, c.layers)}")
            if out["step"] == 0 and np.any(arr != 0):
                # before the first update there is nothing to resume: frameworks start their
                # slots at 0 (torch's velocity takes the first gradient whatever it held)
                _fail(f"{f}.{slot}.{k}: non-zero at step 0; a state before any update has "
                      f"zero slots (give the step count the values belong to)")
            out[slot][k] = arr
    return out


# The names training_features gives (the value after ":" where it has one), for checking a
# declaration's globs: a misspelt one would match nothing, and silently
TRAINING_FEATURES = {"optimizer": tuple(OPTIMIZERS), "velocity": VELOCITIES, "nesterov": None,
                     "dampening": None, "epsilon": EPSILONS, "no_bias_correction": None,
                     "decay": DECAYS, "decay_without_lr": None,
                     "lr_schedule": tuple(LR_SCHEDULES), "lr_schedule_offset": ("1",),
                     "clip": None, "clip_eps": ()}


def unknown_training_feature(glob: str) -> str | None:
    """Why a glob over training features can match none ('' or None when it can), e.g.
    "unknown feature 'lr_schedul'" or "unknown lr_schedule 'cosin'"."""
    name, _, value = glob.partition(":")
    names = [n for n in TRAINING_FEATURES if fnmatch.fnmatchcase(n, name)]
    if not names:
        return (f"unknown feature {name!r}; expected one of {', '.join(TRAINING_FEATURES)}")
    if not value:
        return None if any(TRAINING_FEATURES[n] is None for n in names) or "*" in name else (
            f"{name!r} needs a value, as in {name}:{(TRAINING_FEATURES[names[0]] or ('x',))[0]}")
    choices = [v for n in names for v in (TRAINING_FEATURES[n] or ())]
    if any(TRAINING_FEATURES[n] == () for n in names):  # a number (clip_eps:1e-06)
        return None
    if not any(fnmatch.fnmatchcase(v, value) for v in choices):
        return f"unknown {name} {value!r}; expected one of {', '.join(choices)}"
    return None


def training_features(c) -> list[str]:
    """What the case's update needs of an implementation, as the names that declarations list
    (registry, "training"; docs/FRAMEWORK-AUTHORS.md): "optimizer:adam", "epsilon:hat",
    "decay:decoupled", "lr_schedule:cosine", "clip", "clip_eps:1e-06", ..."""
    o = c.optimizer or {"name": "sgd", **OPTIMIZERS["sgd"]}
    out = [f"optimizer:{o['name']}"]
    if o["name"] == "momentum":
        out += [f"velocity:{o['velocity']}"] + ["nesterov"] * o["nesterov"] + [
            "dampening"] * (o["dampening"] > 0)
    if o["name"] in ("adam", "adamw"):
        out += [f"epsilon:{o['epsilon']}"] + ["no_bias_correction"] * (not o["bias_correction"])
    if o["weight_decay"]:
        out += [f"decay:{o['decay']}"] + ["decay_without_lr"] * (not o["decay_lr"])
    s = c.lr_schedule or {"name": "constant", "offset": 0}
    out += [f"lr_schedule:{s['name']}"] + [f"lr_schedule_offset:{s['offset']}"] * (
        s["offset"] != 0 and s["name"] != "constant")  # a constant rate has no position
    if c.clip is not None:
        out += ["clip", f"clip_eps:{c.clip['eps']!r}"]
    return out


def _validate(c: Case) -> None:
    _check_network(c.name, c.dtype, c.layers, c.activations, c.loss, c.reduction)
    c.layers = [int(n) for n in c.layers]
    L = c.L
    # Parameters, in the seeds' shapes.
    if not isinstance(c.params, dict):
        _fail(f"params: expected an object of W1, b1, ... arrays, got {_short(c.params)}")
    names = param_names(L)
    for k in c.params:
        if k not in names:
            _fail(f"params: unknown parameter {_short(k)}; a {L}-layer network has "
                  f"{', '.join(names)}")
    for k in names:
        if k not in c.params:
            _fail(f"params: missing {k}; a {L}-layer network needs {', '.join(names)}")
        arr = _matrix(f"params.{k}", c.params[k])
        want = param_shape(k, c.layers)
        if arr.shape != want:
            _fail(f"{k} has shape {arr.shape}, but {shape_rule(k, c.layers)} requires {want}")
        c.params[k] = arr
    c.params = {k: c.params[k] for k in names}
    # Data.
    c.X = _matrix("X", c.X)
    c.Y = _matrix("Y", c.Y)
    if c.X.shape[0] != c.layers[0]:
        _fail(f"X has shape {c.X.shape}, but n[0]={c.layers[0]} requires ({c.layers[0]}, m)")
    if c.Y.shape[1] != c.X.shape[1]:  # m is both's: neither is blamed for the other
        _fail(f"X, Y: X has {c.X.shape[1]} samples (shape {c.X.shape}) and Y has "
              f"{c.Y.shape[1]} (shape {c.Y.shape}); samples are columns, so they must agree: "
              f"X is (n[0], m) = ({c.layers[0]}, m) and Y is (n[{L}], m) = ({c.layers[-1]}, m)")
    if c.Y.shape[0] != c.layers[-1]:
        _fail(f"Y has shape {c.Y.shape}, but n[{L}]={c.layers[-1]}, m={c.X.shape[1]} requires "
              f"{(c.layers[-1], c.X.shape[1])}")
    if c.loss == "bce" and (c.Y.min() < 0 or c.Y.max() > 1):
        bad = c.Y[(c.Y < 0) | (c.Y > 1)][0]
        _fail(f"Y: loss 'bce' needs targets in [0, 1], got {bad}")
    if c.loss == "cce":
        if c.Y.min() < 0:
            _fail(f"Y: loss 'cce' needs non-negative class probabilities, got {c.Y.min()}")
        sums = c.Y.sum(axis=0)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-12):
            j = int(np.argmax(np.abs(sums - 1)))
            _fail(f"Y: loss 'cce' needs each column to sum to 1, column {j} sums to {sums[j]}")
    (c.lr, c.epochs, c.batch_size, c.shuffle_seed, c.batches, c.trainable) = _check_train(
        c.lr, c.schedule, c.epochs, c.batch_size, c.shuffle_seed, c.batches, c.trainable, L,
        c.X.shape[1])
    c.optimizer, c.lr_schedule, c.clip = check_training(c.optimizer, c.lr_schedule, c.clip,
                                                        c.schedule, c.lr)
    if c.initial_state is not None:
        c.initial_state = check_state(c.initial_state, c)
    if c.precision is not None:
        # a float64 Case with a policy is the oracle's run of a float32 case: rounded where
        # the policy says, exact between (judge/oracle.py)
        c.precision = check_precision(c.precision.get("name") or c.precision
                                      if isinstance(c.precision, dict) else c.precision, MASTER,
                                      c.schedule, c.stateful)


def check_memory(cost: Cost, max_memory: int, implementations: int = 4, judges: int = 2) -> None:
    """CaseError (one line) when judging a run of this Cost needs more than `max_memory`
    (protocol.cost.Cost.memory), before anything is allocated."""
    need = cost.memory(implementations, judges)
    if need > max_memory:
        _fail(f"cost: judging this case needs an estimated {format_bytes(need)} (layers "
              f"{_short(list(cost.layers))}, m={cost.m}, {cost.updates} updates); the limit is "
              f"{format_bytes(max_memory)} (raise it with --max-memory)")


# ---------------------------------------------------------------------------------------------
# Generated parameters and data.

def init_params(layers: list[int], scheme: str, seed: int, scale: float = 1.0,
                bias: float = 0.0) -> dict[str, np.ndarray]:
    """Parameters drawn by `numpy.random.default_rng(seed)`, layer by layer, W then b.

    glorot_uniform: U(-s, s), s = scale*sqrt(6/(n[l-1]+n[l])); he_normal: N(0, scale^2 * 2/n[l-1]);
    normal: N(0, scale^2); uniform: U(-scale, scale). Biases are the constant `bias`.
    """
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(layers)):
        n_out, n_in = layers[l], layers[l - 1]
        if scheme == "glorot_uniform":
            s = scale * math.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-s, s, size=(n_out, n_in))
        elif scheme == "he_normal":
            W = rng.normal(0.0, scale * math.sqrt(2.0 / n_in), size=(n_out, n_in))
        elif scheme == "normal":
            W = rng.normal(0.0, scale, size=(n_out, n_in))
        else:
            W = rng.uniform(-scale, scale, size=(n_out, n_in))
        params[f"W{l}"] = W
        params[f"b{l}"] = np.full((n_out, 1), float(bias))
    return params


def _check_data_spec(layers: list[int], loss: str, spec: Any) -> int:
    """A `data` block's fields; returns m. No array is made here."""
    if not isinstance(spec, dict):
        _fail(f"data: expected an object with a generator, got {_short(spec)}")
    gen = spec.get("generator")
    _choice("data.generator", gen, DATA_GENERATORS)
    allowed = {"generator", "function"} if gen == "logic" else {"generator", "m", "seed"}
    for k in spec:
        if k not in allowed:
            _fail(f"data.{_key(k)}: unknown field for generator {gen!r}; expected "
                  f"{', '.join(sorted(allowed))}")
    n0, nL = layers[0], layers[-1]
    if gen == "logic":
        _choice("data.function", spec.get("function"), tuple(LOGIC_FUNCTIONS))
        if n0 != 2 or nL != 1:
            _fail(f"data: generator 'logic' needs layers n[0]=2 and n[L]=1, got {n0} and {nL}")
        return 4
    m, seed = spec.get("m"), spec.get("seed")
    if not _is_int(m) or m < 1:
        _fail(f"data.m: expected a positive integer, got {_short(m)}")
    if not _is_int(seed) or seed < 0:
        _fail(f"data.seed: expected a non-negative integer, got {_short(seed)}")
    return int(m)


def generate_data(layers: list[int], loss: str, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """X (n[0], m) and Y (n[L], m) from a `data` block.

    logic: the 4 rows of a 2-input truth table (function and/or/xor), n[0]=2, n[L]=1.
    blobs: one Gaussian cluster per class around a random centre; Y one-hot for cce
        (n[L] classes), 0/1 labels otherwise (2 classes). regression: X ~ N(0, 1), Y =
        sigmoid(teacher(X)) in (0, 1) from a random linear teacher. Seeded by
        `numpy.random.default_rng(seed)`.
    """
    m = _check_data_spec(layers, loss, spec)
    gen = spec["generator"]
    n0, nL = layers[0], layers[-1]
    if gen == "logic":
        X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float64)
        return X, np.array([LOGIC_FUNCTIONS[spec["function"]]], dtype=np.float64)
    rng = np.random.default_rng(spec["seed"])
    if gen == "blobs":
        k = nL if loss == "cce" else 2
        centres = rng.normal(0.0, 2.0, size=(k, n0))
        labels = np.arange(m) % k
        X = (centres[labels] + rng.normal(0.0, 1.0, size=(m, n0))).T
        Y = np.eye(k)[labels].T if loss == "cce" else np.tile(labels.astype(float), (nL, 1))
        return np.ascontiguousarray(X), np.ascontiguousarray(Y)
    X = rng.normal(0.0, 1.0, size=(n0, m))
    T = rng.normal(0.0, 1.0 / math.sqrt(n0), size=(nL, n0))
    return X, 1.0 / (1.0 + np.exp(-(T @ X)))


def case_from_dict(d: Any, max_memory: int = DEFAULT_MAX_MEMORY) -> Case:
    """Build and validate a Case from a parsed case file (see docs/CASES.md).

    Order: every structural check (cheap, no arrays), then the run's estimated memory against
    `max_memory`, and only then are parameters and data generated or converted."""
    if not isinstance(d, dict):
        _fail(f"case: expected a JSON object at the top level, got {type(d).__name__}")
    for k in d:
        if k not in _TOP_KEYS:
            _fail(f"{_key(k)}: unknown field; expected one of {', '.join(sorted(_TOP_KEYS))}")
    for k in ("name", "layers", "activations", "loss", "reduction", "train"):
        if k not in d:
            _fail(f"{k}: missing required field")
    train = d["train"]
    if not isinstance(train, dict):
        _fail(f"train: expected an object, got {_short(train)}")
    for k in train:
        if k not in _TRAIN_KEYS:
            _fail(f"train.{_key(k)}: unknown field; expected one of "
                  f"{', '.join(sorted(_TRAIN_KEYS))}")
    if "batches" in train:
        for k in ("batch_size", "epochs", "shuffle_seed"):
            if k in train:
                _fail(f"train.batches: an explicit batch order replaces train.{k}; give one "
                      "or the other")
    for k in ("lr",) + (() if "batches" in train else ("epochs",)):
        if k not in train:
            _fail(f"train.{k}: missing required field")
    dtype = d.get("dtype", "float64")
    layers, activations, loss = d["layers"], d["activations"], d["loss"]
    _check_network(d["name"], dtype, layers, activations, loss, d["reduction"])
    for k in ("description", "source"):
        if not isinstance(d.get(k, ""), str):
            _fail(f"{k}: expected a string, got {_short(d[k])}")
    # Where the parameters and the data come from, and m, without making arrays.
    if ("params" in d) == ("init" in d):
        _fail("params: give exactly one of 'params' (explicit arrays) or 'init' (generated)")
    if "init" in d:
        init = d["init"]
        if not isinstance(init, dict):
            _fail(f"init: expected an object with scheme and seed, got {_short(init)}")
        for k in init:
            if k not in ("scheme", "seed", "scale", "bias"):
                _fail(f"init.{_key(k)}: unknown field; expected scheme, seed, scale, bias")
        _choice("init.scheme", init.get("scheme"), INIT_SCHEMES)
        if not _is_int(init.get("seed")) or init["seed"] < 0:
            _fail(f"init.seed: expected a non-negative integer, got {_short(init.get('seed'))}")
        for k, default in (("scale", 1.0), ("bias", 0.0)):
            v = init.get(k, default)
            if not _is_real(v) or not math.isfinite(v) or (k == "scale" and v <= 0):
                _fail(f"init.{k}: expected a finite{' positive' if k == 'scale' else ''} "
                      f"number, got {_short(v)}")
    has_xy = "X" in d or "Y" in d
    if has_xy == ("data" in d):
        _fail("X: give either both 'X' and 'Y' (explicit data) or a 'data' block (generated)")
    if "data" in d:
        m = _check_data_spec(layers, loss, d["data"])
    else:
        if "X" not in d or "Y" not in d:
            _fail(f"{'Y' if 'X' in d else 'X'}: missing; give both 'X' and 'Y'")
        X = d["X"]
        if not isinstance(X, list) or not X or not isinstance(X[0], list) or not X[0]:
            _fail(f"X: expected a non-empty list of rows (a 2-D array), got {_short(X)}")
        m = len(X[0])
    lr, epochs, batch_size, shuffle_seed, batches, _ = _check_train(
        train["lr"], train.get("schedule", "simultaneous"), train.get("epochs"),
        train.get("batch_size"), train.get("shuffle_seed"), train.get("batches"),
        train.get("trainable"), len(layers) - 1, m)
    o, _, clip = check_training(train.get("optimizer"), train.get("lr_schedule"),
                                train.get("clip"), train.get("schedule", "simultaneous"), lr)
    if "precision" in d:
        check_precision(d["precision"], dtype, train.get("schedule", "simultaneous"),
                        clip is not None or beyond_sgd(o))
    check_memory(cost_of(layers, m, batch_size, epochs, shuffle_seed, batches), max_memory)
    # Now the arrays.
    if "init" in d:
        init = d["init"]
        params = init_params(layers, init["scheme"], init["seed"], init.get("scale", 1.0),
                             init.get("bias", 0.0))
    else:
        params = d["params"]
    X, Y = generate_data(layers, loss, d["data"]) if "data" in d else (d["X"], d["Y"])
    return Case(name=d["name"], layers=list(layers), activations=list(activations), loss=loss,
                reduction=d["reduction"], params=dict(params) if isinstance(params, dict)
                else params, X=X, Y=Y, lr=lr, epochs=epochs, batch_size=batch_size,
                shuffle_seed=shuffle_seed, schedule=train.get("schedule", "simultaneous"),
                trainable=train.get("trainable"), batches=batches, dtype=dtype,
                description=d.get("description", ""), source=d.get("source", ""),
                optimizer=train.get("optimizer"), lr_schedule=train.get("lr_schedule"),
                clip=train.get("clip"), initial_state=train.get("state"),
                precision=d.get("precision"))


def load_case(path: str | Path, max_memory: int = DEFAULT_MAX_MEMORY) -> Case:
    """Read a case file (.json, or .toml on Python >= 3.11) and validate it (see
    `case_from_dict`). The file's size is checked before it is read: parsing takes several
    times its size."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > min(MAX_FILE_BYTES, max_memory // 8):
            _fail(f"{path}: the case file has {format_bytes(size)}; at most "
                  f"{format_bytes(min(MAX_FILE_BYTES, max_memory // 8))} can be parsed within the "
                  "memory limit (--max-memory)")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CaseError(f"{path}: cannot read case file ({e.__class__.__name__}: "
                        f"{getattr(e, 'strerror', None) or e})") from None
    try:
        if p.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise CaseError(f"{path}: TOML case files need Python >= 3.11; use JSON") from None
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                raise CaseError(f"{path}: not valid TOML ({e})") from None
        else:
            try:
                data = json.loads(text, parse_constant=_reject_constant)
            except json.JSONDecodeError as e:
                raise CaseError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, "
                                f"column {e.colno})") from None
    except RecursionError:
        raise CaseError(f"{path}: nested too deeply to parse (a case file nests a few levels: "
                        "lists of rows of numbers)") from None
    return case_from_dict(data, max_memory)


def _reject_constant(name: str) -> None:
    raise CaseError(f"case file contains {name}; expected finite numbers")
