"""A case trained as a JAX user writes it (see the package docstring).

The model is written for one example, `predict(params, x)` with x of shape (n[0],), and batched
with jax.vmap, as JAX's own MLP tutorial writes it: W[l] is the seeds' (n[l], n[l-1]) and b[l]
a vector. The case's losses (docs/SPEC.md, "Losses and reductions") from optax's: half_sse as
optax.l2_loss, mse as optax.squared_error, bce as optax.sigmoid_binary_cross_entropy on the
logits and cce as optax.softmax_cross_entropy on them, summed over the units of an example and
then averaged (or summed) over the batch. The update is one jax.jit function of the parameters,
the optimizer's state and the batch: value_and_grad, optimizer.update, optax.apply_updates.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax

from comparisons.protocol import TrainResult
from comparisons.protocol.case import slots_of

# float64 parity needs x64: turned on deliberately, and checked, since without it JAX
# computes float64 input in float32 without a word.
jax.config.update("jax_enable_x64", True)
if jnp.zeros(1, dtype=jnp.float64).dtype != jnp.float64:  # pragma: no cover
    raise RuntimeError("jax_optax_impl: enabling jax_enable_x64 did not take effect")

ACTIVATIONS = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
               "leaky_relu": lambda z: jax.nn.leaky_relu(z, negative_slope=0.01),
               "identity": lambda z: z, "softmax": jax.nn.softmax}
FUSED = ("bce", "cce")  # optax's losses take the logits: the output activation is in the loss


def predict(params, x, activations, logits=False):
    """A[L] of one example x, (n[0],) -> (n[L],); with logits=True, Z[L]."""
    a = x
    for l, g in enumerate(activations, start=1):
        z = jnp.dot(params[f"W{l}"], a) + params[f"b{l}"]
        if logits and l == len(activations):
            return z
        a = ACTIVATIONS[g](z)
    return a


def example_loss(out, y, loss):
    """One example's loss from its output (or its logits, for bce and cce): optax's
    elementwise or per-example loss, summed over the units."""
    if loss == "cce":
        return optax.softmax_cross_entropy(out, y)
    per_unit = {"half_sse": optax.l2_loss, "mse": optax.squared_error,
                "bce": optax.sigmoid_binary_cross_entropy}[loss](out, y)
    return per_unit.mean() if loss == "mse" else per_unit.sum()


def batch_loss(params, X, Y, net):
    """The batch's loss: the examples' losses (jax.vmap) averaged or summed."""
    activations, loss, reduction = net
    out = jax.vmap(lambda x: predict(params, x, activations, loss in FUSED))(X)
    losses = jax.vmap(lambda o, y: example_loss(o, y, loss))(out, Y)
    return losses.mean() if reduction == "mean" else losses.sum()


def schedule(lr, s):
    """optax's schedule for the case's rate `lr` and train.lr_schedule `s` (a float for a
    constant rate)."""
    if s is None or s["name"] == "constant":
        return lr
    if s["name"] == "step":
        return optax.exponential_decay(lr, s["step_size"], s["gamma"], staircase=True)
    return optax.warmup_cosine_decay_schedule(
        s["start_factor"] * lr, lr, s["warmup"], s["warmup"] + s["decay_steps"],
        s["final_factor"] * lr)


def make_optimizer(lr, optimizer, lr_schedule, clip):
    """The case's optimizer (docs/CASES.md, "Optimizers") from its train.lr, .optimizer,
    .lr_schedule and .clip, as an optax chain: clipping first, coupled decay (L2) before the
    optimizer, decoupled decay as optax.adamw places it."""
    o = optimizer or {"name": "sgd", "weight_decay": 0.0, "decay": "coupled"}
    rate, wd = schedule(lr, lr_schedule), o["weight_decay"]
    chain = [optax.clip_by_global_norm(clip["max_norm"])] if clip else []
    if wd and o["decay"] == "coupled":
        chain.append(optax.add_decayed_weights(wd))
    decoupled = bool(wd) and o["decay"] == "decoupled"
    if o["name"] in ("adam", "adamw"):
        eps, eps_root = (0.0, o["eps"]) if o["epsilon"] == "inside" else (o["eps"], 0.0)
        if decoupled:
            chain.append(optax.adamw(rate, o["beta1"], o["beta2"], eps, eps_root,
                                     weight_decay=wd))
        else:
            chain.append(optax.adam(rate, o["beta1"], o["beta2"], eps, eps_root))
    elif decoupled:  # as optax.adamw is built: the direction, the decay, then the rate
        if o["name"] == "momentum":
            chain.append(optax.trace(o["momentum"], o["nesterov"]))
        chain += [optax.add_decayed_weights(wd), optax.scale_by_learning_rate(rate)]
    else:
        momentum = o["momentum"] if o["name"] == "momentum" else None
        chain.append(optax.sgd(rate, momentum=momentum, nesterov=o.get("nesterov", False)))
    return optax.chain(*chain)


def optimizer_arguments(case) -> str:
    """make_optimizer's arguments for `case`, as JSON: the key of the compiled updates."""
    return json.dumps({"lr": case.lr, "optimizer": case.optimizer,
                       "lr_schedule": case.lr_schedule, "clip": case.clip}, sort_keys=True)


@functools.lru_cache(maxsize=16)
def compiled_step(net, training: str):
    """The jit-compiled update for a network and an optimizer (`training`: make_optimizer's
    arguments as JSON), shared by every run of this process with the same ones, so that the
    parts of a trajectory compile once."""
    optimizer = make_optimizer(**json.loads(training))

    @jax.jit
    def step(trainable, frozen, opt_state, X, Y, idx=None):
        if idx is not None:  # the batch's examples (None: every one, in order)
            X, Y = X[idx], Y[idx]
        loss, grads = jax.value_and_grad(
            lambda p: batch_loss(p | frozen, X, Y, net))(trainable)
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        return optax.apply_updates(trainable, updates), opt_state, loss
    return optimizer, step


@functools.lru_cache(maxsize=16)
def compiled_network(net):
    """(the outputs A[L] of the rows X, (m, n[L]); the loss and every gradient of a batch),
    jit-compiled once per network in this process."""
    outputs = jax.jit(lambda p, X: jax.vmap(lambda x: predict(p, x, net[0]))(X))
    return outputs, jax.jit(jax.value_and_grad(lambda p, X, Y: batch_loss(p, X, Y, net)))


SLOTS = {"M": "mu", "V": "nu", "B": "trace"}


def load_state(opt_state, state: dict, dtype):
    """A resumed optimizer state (the case's `initial_state`) into optax's: every step count
    (Adam's, the schedule's) and each slot's per-parameter values."""
    new = {"count": jnp.asarray(state["step"], dtype=jnp.int32)}
    for slot, field in SLOTS.items():
        if slot in state:
            new[field] = {k: jnp.asarray(np.asarray(v).reshape(-1) if k[0] == "b" else v,
                                         dtype=dtype) for k, v in state[slot].items()}
    return optax.tree.set(opt_state, **{k: v for k, v in new.items()
                                        if optax.tree.get_all_with_path(opt_state, k)})


def read_state(opt_state, step: int, slots, shapes: dict) -> dict:
    """The optimizer's state in the results block's form: each slot per parameter, in the
    parameter's `shapes` (a bias (n, 1))."""
    out = {"step": step}
    for slot in slots:
        values = optax.tree.get(opt_state, SLOTS[slot])
        out[slot] = {k: np.asarray(v).reshape(shapes[k]).copy() for k, v in values.items()}
    return out


def train(case, **_):
    """The case's training loop, the way JAX's tutorials write one."""
    dtype = jnp.dtype(case.dtype)
    X = jnp.asarray(case.X.T, dtype=dtype)
    Y = jnp.asarray(case.Y.T, dtype=dtype)
    shapes = {k: np.shape(v) for k, v in case.params.items()}
    params = {k: jnp.asarray(v[:, 0] if k[0] == "b" else v, dtype=dtype)
              for k, v in case.params.items()}
    net = (tuple(case.activations), case.loss, case.reduction)
    outputs, loss_and_grads = compiled_network(net)
    batches, first = case.update_batches()
    initial_outputs = np.asarray(outputs(params, X)).T.copy()
    _, grads = loss_and_grads(params, X[first], Y[first])
    gradients = {k: np.asarray(g).reshape(shapes[k]).copy() for k, g in grads.items()}
    trainable = {k: p for k, p in params.items() if k in case.trainable_names}
    frozen = {k: p for k, p in params.items() if k not in trainable}
    optimizer, step = compiled_step(net, optimizer_arguments(case))
    opt_state = optimizer.init(trainable)
    start = 0 if case.initial_state is None else case.initial_state["step"]
    if start:
        opt_state = load_state(opt_state, case.initial_state, dtype)
    losses = []  # read back once at the end: each update is dispatched without waiting
    for idx in batches:
        trainable, opt_state, loss = step(trainable, frozen, opt_state, X, Y,
                                          None if isinstance(idx, slice) else np.asarray(idx))
        losses.append(loss)
    final = trainable | frozen
    losses.append(loss_and_grads(final, X, Y)[0])
    losses = np.array(jax.device_get(losses), dtype=case.dtype)
    state = None
    if case.stateful:
        state = read_state(opt_state, start + case.updates, slots_of(case.optimizer), shapes)
    return TrainResult(
        losses=losses, gradients=gradients,
        final_params={k: np.asarray(v).reshape(shapes[k]).copy() for k, v in final.items()},
        final_outputs=np.asarray(outputs(final, X)).T.copy(), initial_outputs=initial_outputs,
        final_state=state)
