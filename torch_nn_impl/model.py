"""A case trained as a PyTorch user writes it (see the package docstring).

Data are rows here, as torch.nn expects them: a batch is X.T[idx], (batch, n[0]); nn.Linear's
weight is (out, in), the seeds' W[l], and its bias is b[l] without the column axis. The case's
losses (docs/SPEC.md, "Losses and reductions") in torch's modules: half_sse and mse through
nn.MSELoss, bce through nn.BCEWithLogitsLoss on the logits and cce through nn.CrossEntropyLoss
with the targets as class probabilities, the last two fusing the output activation as torch's
documentation recommends.
"""

import math
import warnings

import numpy as np
import torch
from torch import nn

from comparisons.protocol import TrainResult
from comparisons.protocol.case import slots_of
from comparisons.protocol.devices import autocast_class

DTYPES = {"float64": torch.float64, "float32": torch.float32}
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
               "leaky_relu": lambda: nn.LeakyReLU(0.01), "identity": nn.Identity}
FUSED = {"bce": torch.sigmoid, "cce": lambda z: torch.softmax(z, dim=1)}  # loss: A[L] from z


def build_model(case) -> nn.Sequential:
    """nn.Linear and activation modules with the case's parameters; the output activation is
    left to the loss where torch fuses it (bce, cce)."""
    dtype, modules = DTYPES[case.dtype], []
    for l in range(1, case.L + 1):
        linear = nn.Linear(case.layers[l - 1], case.layers[l], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(case.params[f"W{l}"], dtype=dtype))
            linear.bias.copy_(torch.as_tensor(case.params[f"b{l}"][:, 0], dtype=dtype))
        modules.append(linear)
        if l < case.L or case.loss not in FUSED:
            modules.append(ACTIVATIONS[case.activations[l - 1]]())
    return nn.Sequential(*modules)


def named_parameters(model) -> dict:
    """{"W1": layer 1's weight, "b1": its bias, ...}."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return {f"{p}{l}": getattr(m, "weight" if p == "W" else "bias")
            for l, m in enumerate(linears, start=1) for p in "Wb"}


def loss_function(case):
    """The case's loss of a batch, (outputs or logits, targets) -> 0-d, from torch's modules."""
    if case.loss == "cce":
        return nn.CrossEntropyLoss(reduction=case.reduction)  # sums over the classes
    if case.loss == "mse" and case.reduction == "mean":
        return nn.MSELoss()  # the mean over every element: the case's mse, averaged
    per_unit = (nn.BCEWithLogitsLoss(reduction="sum") if case.loss == "bce"
                else nn.MSELoss(reduction="sum"))
    scale = {"half_sse": 0.5, "mse": 1 / case.layers[-1], "bce": 1.0}[case.loss]

    def loss(out, target):
        total = scale * per_unit(out, target)
        return total / out.shape[0] if case.reduction == "mean" else total
    return loss


def outputs(case, model, X):
    """A[L] of the rows X, (m, n[L])."""
    out = model(X)
    return FUSED[case.loss](out) if case.loss in FUSED else out


def make_optimizer(case, params: list):
    """torch.optim's optimizer for the case's (docs/CASES.md, "Optimizers")."""
    o = case.optimizer or {"name": "sgd", "weight_decay": 0.0}
    if o["name"] in ("sgd", "momentum"):
        return torch.optim.SGD(params, lr=case.lr, momentum=o.get("momentum", 0.0),
                               dampening=o.get("dampening", 0.0),
                               nesterov=o.get("nesterov", False),
                               weight_decay=o["weight_decay"])
    adam = torch.optim.AdamW if o["decay"] == "decoupled" else torch.optim.Adam
    return adam(params, lr=case.lr, betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                weight_decay=o["weight_decay"])


def make_scheduler(case, optimizer):
    """lr_scheduler.StepLR for a step decay; for a warm-up into a cosine, a LambdaLR of the
    closed form, as Hugging Face's get_cosine_schedule_with_warmup writes it (torch's own
    CosineAnnealingLR is a recursion); None for a constant rate."""
    s = case.lr_schedule
    if s is None or s["name"] == "constant":
        return None
    if s["name"] == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=s["step_size"],
                                               gamma=s["gamma"])
    warmup, steps = s["warmup"], s["decay_steps"]
    start, final = s["start_factor"], s["final_factor"]

    def factor(position):
        if position < warmup:
            return start + (1 - start) * position / warmup
        progress = min(position - warmup, steps) / steps
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


SLOTS = {"M": "exp_avg", "V": "exp_avg_sq", "B": "momentum_buffer"}


def load_state(optimizer, params: dict, state: dict) -> None:
    """A resumed optimizer state (the case's `initial_state`) into torch's per-parameter
    state, as optimizer.load_state_dict would leave it."""
    if state["step"] == 0:
        return
    for k, p in params.items():
        s = {v: torch.as_tensor(state[slot][k], dtype=p.dtype).reshape(p.shape).clone()
             for slot, v in SLOTS.items() if slot in state}
        if "exp_avg" in s:
            s["step"] = torch.tensor(float(state["step"]))
        if s:
            optimizer.state[p] = s


def resumed(case, trainable: dict):
    """(optimizer, scheduler or None, the updates done before): the case's optimizer over the
    `trainable` parameters and its scheduler, where a resumed run (the case's initial_state)
    left them."""
    optimizer = make_optimizer(case, list(trainable.values()))
    start = 0 if case.initial_state is None else case.initial_state["step"]
    if case.initial_state is not None:
        load_state(optimizer, trainable, case.initial_state)
    scheduler = make_scheduler(case, optimizer)
    if scheduler is not None and start:
        with warnings.catch_warnings():  # a resumed run: the scheduler where the run left it
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(start):
                scheduler.step()
    return optimizer, scheduler, start


def read_state(optimizer, params: dict, step: int, slots, shapes: dict) -> dict:
    """The optimizer's state in the results block's form: each slot per parameter, in the
    parameter's `shapes` (a bias (n, 1))."""
    return {"step": step} | {
        slot: {k: optimizer.state[p][SLOTS[slot]].detach().numpy().reshape(shapes[k]).copy()
               for k, p in params.items()} for slot in slots}


def train(case, **_):
    """The case's training loop, the way torch's tutorials write one."""
    dtype = DTYPES[case.dtype]
    X = torch.as_tensor(case.X.T, dtype=dtype)
    Y = torch.as_tensor(case.Y.T, dtype=dtype)
    model = build_model(case)
    loss_fn = loss_function(case)
    params = named_parameters(model)
    batches, first = case.update_batches()
    rows = lambda idx: idx if isinstance(idx, slice) else torch.as_tensor(idx)  # noqa: E731
    with torch.no_grad():
        initial_outputs = outputs(case, model, X).T.numpy().copy()
    grads = torch.autograd.grad(loss_fn(model(X[rows(first)]), Y[rows(first)]),
                                list(params.values()))
    shapes = {k: np.shape(v) for k, v in case.params.items()}
    gradients = {k: g.detach().numpy().reshape(shapes[k]).copy() for k, g in zip(params, grads)}
    trainable = {k: p for k, p in params.items() if k in case.trainable_names}
    for k, p in params.items():
        p.requires_grad_(k in trainable)
    optimizer, scheduler, start = resumed(case, trainable)
    losses = np.empty(case.updates + 1, dtype=case.dtype)
    for i, idx in enumerate(batches):
        optimizer.zero_grad()
        loss = loss_fn(model(X[rows(idx)]), Y[rows(idx)])
        loss.backward()
        if case.clip is not None:
            nn.utils.clip_grad_norm_(list(trainable.values()), case.clip["max_norm"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses[i] = loss.item()
    with torch.no_grad():
        final = outputs(case, model, X)
        losses[-1] = loss_fn(model(X), Y).item()
    final_params = {k: p.detach().numpy().reshape(shapes[k]).copy() for k, p in params.items()}
    state = None
    if case.stateful:
        state = (read_state(optimizer, trainable, start + case.updates,
                            slots_of(case.optimizer), shapes) if case.updates
                 else case.initial_state or {"step": 0} | {  # no update: the state it had
                     s: {k: np.zeros(shapes[k]) for k in trainable}
                     for s in slots_of(case.optimizer)})
    return TrainResult(losses=losses, gradients=gradients, final_params=final_params,
                       final_outputs=final.T.numpy().copy(), initial_outputs=initial_outputs,
                       final_state=state)


def autocast_policy(mode: str, device: str = "cpu") -> dict:
    """{operation: what torch.autocast(device, dtype=mode) does to it}
    (comparisons.protocol.devices.autocast_class), each operation run on float32 inputs and on
    inputs already in `mode`; nn.Linear keeps float32 weights, as master weights."""
    torch.manual_seed(0)
    low = getattr(torch, mode)
    x = torch.randn(4, 3, device=device)
    y = torch.softmax(torch.randn(4, 3, device=device), dim=1)
    lin, w = nn.Linear(3, 3).to(device), torch.randn(3, 3, device=device)
    ops = {"linear": lambda a, t: lin(a), "matmul": lambda a, t: a @ w.to(a.dtype),
           "tanh": lambda a, t: torch.tanh(a), "sigmoid": lambda a, t: torch.sigmoid(a),
           "relu": lambda a, t: torch.relu(a),
           "leaky_relu": lambda a, t: nn.functional.leaky_relu(a, 0.01),
           "softmax": lambda a, t: torch.softmax(a, dim=1),
           "log_softmax": lambda a, t: torch.log_softmax(a, dim=1),
           "cross_entropy": lambda a, t: nn.CrossEntropyLoss()(a, t),
           "mse": lambda a, t: nn.MSELoss()(a, t),
           "bce_with_logits": lambda a, t: nn.BCEWithLogitsLoss()(a, t),
           "sum": lambda a, t: a.sum()}
    name = lambda d: str(d).removeprefix("torch.")  # noqa: E731
    with torch.autocast(device, dtype=low):
        return {k: autocast_class(*[name(f(x.to(d), y.to(d)).dtype)
                                    for d in (torch.float32, low)], mode)
                for k, f in ops.items()}
