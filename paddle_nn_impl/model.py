"""A case trained as a PaddlePaddle user writes it (see the package docstring).

Data are rows, as paddle.nn expects them: a batch is X.T[idx], (batch, n[0]); paddle.nn.Linear's
weight is (in, out), the transpose of the seeds' W[l], and its bias is b[l] without the column
axis. The case's losses (docs/SPEC.md, "Losses and reductions") in Paddle's modules: half_sse
and mse through nn.MSELoss, bce through nn.BCEWithLogitsLoss on the logits and cce through
nn.CrossEntropyLoss with soft labels on the logits, the last two fusing the output activation
as Paddle's documentation recommends.
"""

import math
import sys
import warnings

import numpy as np

from comparisons.protocol import TrainResult
from comparisons.protocol.case import slots_of
from comparisons.protocol.devices import autocast_class

if "paddle" not in sys.modules and "tensorflow" in sys.modules:  # ERRATA.md
    raise ImportError("paddle cannot be loaded after tensorflow in one process: paddle 3.3.1 "
                      "then crashes with a segmentation fault (ERRATA.md)")
with warnings.catch_warnings():  # its warning that ccache is absent (building C++ extensions)
    warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
    import paddle
from paddle import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
               "leaky_relu": lambda: nn.LeakyReLU(0.01), "identity": nn.Identity}
FUSED = {"bce": nn.functional.sigmoid, "cce": lambda z: nn.functional.softmax(z, axis=1)}


def build_model(case) -> nn.Sequential:
    """nn.Linear and activation layers with the case's parameters; the output activation is
    left to the loss where Paddle fuses it (bce, cce)."""
    layers = []
    for l in range(1, case.L + 1):
        linear = nn.Linear(case.layers[l - 1], case.layers[l])
        linear.weight.set_value(np.asarray(case.params[f"W{l}"], dtype=case.dtype).T)
        linear.bias.set_value(np.asarray(case.params[f"b{l}"][:, 0], dtype=case.dtype))
        layers.append(linear)
        if l < case.L or case.loss not in FUSED:
            layers.append(ACTIVATIONS[case.activations[l - 1]]())
    return nn.Sequential(*layers)


def named_parameters(model) -> dict:
    """{"W1": layer 1's weight, "b1": its bias, ...}."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return {f"{p}{l}": getattr(m, "weight" if p == "W" else "bias")
            for l, m in enumerate(linears, start=1) for p in "Wb"}


def loss_function(case):
    """The case's loss of a batch, (outputs or logits, targets) -> 0-d, from Paddle's layers."""
    if case.loss == "cce":
        return nn.CrossEntropyLoss(soft_label=True, reduction=case.reduction)
    if case.loss == "mse" and case.reduction == "mean":
        return nn.MSELoss()  # the mean over every element: the case's mse, averaged
    per_unit = (nn.BCEWithLogitsLoss(reduction="sum") if case.loss == "bce"
                else nn.MSELoss(reduction="sum"))
    scale = {"half_sse": 0.5, "mse": 1 / case.layers[-1], "bce": 1.0}[case.loss]

    def loss(out, target):
        total = scale * per_unit(out, target)
        return total / out.shape[0] if case.reduction == "mean" else total
    return loss


def make_scheduler(case):
    """paddle.optimizer.lr.StepDecay for a step decay; for a warm-up into a cosine, a
    LambdaDecay of the closed form; the constant rate itself otherwise."""
    s = case.lr_schedule
    if s is None or s["name"] == "constant":
        return case.lr
    if s["name"] == "step":
        return paddle.optimizer.lr.StepDecay(case.lr, s["step_size"], s["gamma"])
    warmup, steps = s["warmup"], s["decay_steps"]
    start, final = s["start_factor"], s["final_factor"]

    def factor(position):
        if position < warmup:
            return start + (1 - start) * position / warmup
        progress = min(position - warmup, steps) / steps
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))
    return paddle.optimizer.lr.LambdaDecay(case.lr, factor)


def make_optimizer(case, rate, params: list):
    """paddle.optimizer's optimizer for the case's (docs/CASES.md, "Optimizers")."""
    o = case.optimizer or {"name": "sgd", "weight_decay": 0.0}
    clip = nn.ClipGradByGlobalNorm(case.clip["max_norm"]) if case.clip else None
    common = {"learning_rate": rate, "parameters": params, "grad_clip": clip,
              "weight_decay": o["weight_decay"] or None}
    if o["name"] == "sgd":
        return paddle.optimizer.SGD(**common)
    if o["name"] == "momentum":
        return paddle.optimizer.Momentum(momentum=o["momentum"], use_nesterov=o["nesterov"],
                                         **common)
    adam = paddle.optimizer.AdamW if o["decay"] == "decoupled" else paddle.optimizer.Adam
    if adam is paddle.optimizer.AdamW:
        common["weight_decay"] = o["weight_decay"]  # AdamW's own default is 0.01
    return adam(beta1=o["beta1"], beta2=o["beta2"], epsilon=o["eps"], **common)


SLOTS = {"M": "moment1", "V": "moment2", "B": "velocity"}


def load_state(optimizer, scheduler, params: dict, state: dict, o: dict, dtype) -> None:
    """A resumed optimizer state (the case's `initial_state`) as Paddle's state_dict, which
    its accumulators take when the first step creates them: each slot (a weight's transposed
    to Paddle's (in, out)), and Adam's powers beta^(k+1) by repeated multiplication, as its
    kernel forms them; the `scheduler` already stepped to where the run left it."""
    if state["step"] == 0:
        return
    d = {}
    for k, p in params.items():
        for slot, acc in SLOTS.items():
            if slot in state:
                value = np.asarray(state[slot][k], dtype=dtype)  # the seeds' shape
                value = (value.T if k[0] == "W" else value).reshape(p.shape)
                d[f"{p.name}_{acc}_0"] = paddle.to_tensor(value)
        if "M" in state:
            for beta, acc in ((o["beta1"], "beta1_pow_acc"), (o["beta2"], "beta2_pow_acc")):
                power = np.asarray(beta, dtype=dtype)
                for _ in range(state["step"]):
                    power = power * np.asarray(beta, dtype=dtype)
                d[f"{p.name}_{acc}_0"] = paddle.to_tensor(np.reshape(power, [1]))
    if isinstance(scheduler, paddle.optimizer.lr.LRScheduler):
        d["LR_Scheduler"] = scheduler.state_dict()  # as it stands: set_state_dict requires it
    optimizer.set_state_dict(d)


def read_state(optimizer, params: dict, step: int, slots, shapes: dict) -> dict:
    """The optimizer's state in the results block's form: each slot per parameter, in the
    parameter's `shapes` (a bias (n, 1); a weight transposed back to the seeds' (out, in))."""
    d = optimizer.state_dict()
    out = {"step": step}
    for slot in slots:
        out[slot] = {}
        for k, p in params.items():
            value = d[f"{p.name}_{SLOTS[slot]}_0"].numpy()
            out[slot][k] = (value.T if k[0] == "W" else value).reshape(shapes[k]).copy()
    return out


def train(case, **_):
    """The case's training loop, the way Paddle's tutorials write one. Layer and accumulator
    names start afresh for each run (unique_name.guard), so that a resumed state finds them."""
    paddle.set_default_dtype(case.dtype)
    with paddle.utils.unique_name.guard():
        return _train(case)


def _train(case):
    X = paddle.to_tensor(case.X.T, dtype=case.dtype)
    Y = paddle.to_tensor(case.Y.T, dtype=case.dtype)
    model = build_model(case)
    loss_fn = loss_function(case)
    params = named_parameters(model)
    shapes = {k: np.shape(v) for k, v in case.params.items()}
    as_seeds = lambda k, t: (t.numpy().T if k[0] == "W" else t.numpy()).reshape(  # noqa: E731
        shapes[k]).copy()
    batches, first = case.update_batches()
    rows = lambda idx: idx if isinstance(idx, slice) else paddle.to_tensor(idx)  # noqa: E731
    with paddle.no_grad():
        initial_outputs = FUSED.get(case.loss, lambda a: a)(model(X)).numpy().T.copy()
    grads = paddle.grad(loss_fn(model(X[rows(first)]), Y[rows(first)]), list(params.values()))
    gradients = {k: as_seeds(k, g) for k, g in zip(params, grads)}
    trainable = {k: p for k, p in params.items() if k in case.trainable_names}
    for k, p in params.items():
        p.stop_gradient = k not in trainable
    scheduler = make_scheduler(case)
    optimizer = make_optimizer(case, scheduler, list(trainable.values()))
    start = 0 if case.initial_state is None else case.initial_state["step"]
    stepping = not isinstance(scheduler, float)
    if start:
        for _ in range(start if stepping else 0):  # the scheduler where the run left it
            scheduler.step()
        load_state(optimizer, scheduler, trainable, case.initial_state, case.optimizer,
                   case.dtype)
    losses = np.empty(case.updates + 1, dtype=case.dtype)
    for i, idx in enumerate(batches):
        loss = loss_fn(model(X[rows(idx)]), Y[rows(idx)])
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        if stepping:
            scheduler.step()
        losses[i] = loss.item()
    with paddle.no_grad():
        final = FUSED.get(case.loss, lambda a: a)(model(X))
        losses[-1] = loss_fn(model(X), Y).item()
    state = None
    if case.stateful:
        state = (read_state(optimizer, trainable, start + case.updates,
                            slots_of(case.optimizer), shapes) if case.updates
                 else case.initial_state or {"step": 0} | {  # no update: the state it had
                     s: {k: np.zeros(shapes[k]) for k in trainable}
                     for s in slots_of(case.optimizer)})
    return TrainResult(losses=losses, gradients=gradients,
                       final_params={k: as_seeds(k, p) for k, p in params.items()},
                       final_outputs=final.numpy().T.copy(), initial_outputs=initial_outputs,
                       final_state=state)


def autocast_policy(mode: str) -> dict:
    """{operation: what paddle.amp.auto_cast(level="O1", dtype=mode) does to it}
    (comparisons.protocol.devices.autocast_class), on float32 inputs and on inputs already in
    `mode`; {"error": why} where auto_cast does nothing on this device (it warns so)."""
    F = nn.functional
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with paddle.amp.auto_cast(level="O1", dtype=mode):
            pass
    off = [str(w.message).strip() for w in seen if "no effect" in str(w.message)]
    if off:
        return {"error": f"auto_cast does nothing here: \"{off[0]}\" "
                         f"(paddle.amp.is_bfloat16_supported() says "
                         f"{paddle.amp.is_bfloat16_supported()})"}
    paddle.seed(0)
    x, y = paddle.randn([4, 3]), F.softmax(paddle.randn([4, 3]), axis=1)
    lin, w = paddle.nn.Linear(3, 3), paddle.randn([3, 3])
    ops = {"linear": lambda a, t: lin(a),
           "matmul": lambda a, t: paddle.matmul(a, w.astype(a.dtype)),
           "tanh": lambda a, t: F.tanh(a), "sigmoid": lambda a, t: F.sigmoid(a),
           "relu": lambda a, t: F.relu(a), "leaky_relu": lambda a, t: F.leaky_relu(a, 0.01),
           "softmax": lambda a, t: F.softmax(a, axis=1),
           "log_softmax": lambda a, t: F.log_softmax(a, axis=1),
           "cross_entropy": lambda a, t: F.cross_entropy(a, t, soft_label=True),
           "mse": lambda a, t: F.mse_loss(a, t),
           "bce_with_logits": lambda a, t: F.binary_cross_entropy_with_logits(a, t),
           "sum": lambda a, t: a.sum()}
    out = {}
    with paddle.amp.auto_cast(level="O1", dtype=mode):
        for k, f in ops.items():
            got = []
            for d in ("float32", mode):
                try:
                    got.append(str(f(x.astype(d), y.astype(d)).dtype).removeprefix("paddle."))
                except Exception:  # noqa: BLE001  (no CPU kernel for d)
                    got.append("no kernel")
            out[k] = autocast_class(*got, mode)
    return out
