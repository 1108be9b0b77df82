"""Optimizers, weight decay, gradient clipping and learning-rate schedules, by hand.

Update t = 0, 1, ... of the simultaneous schedule, for every trainable parameter P (W[l] or
b[l], any shape) with gradient dP at the old parameters (docs/SPEC.md, "Optimizers"):

    1. clipping:      dP = dP * min(1, max_norm / (||g|| + eps)), ||g|| over every trainable dP
    2. coupled decay: dP = dP + lambda P                    (L2 in the gradient)
    3. the rate:      lr_t = schedule(lr, t + offset)
    4. decoupled decay: P = P (1 - lr_t lambda), or P (1 - lambda) without lr
    5. the optimizer's step from dP, its state and lr_t

Sources: Kingma & Ba 2015 (Adam, Algorithm 1 and the epsilon-hat form at the end of section
2); Loshchilov & Hutter 2019 (decoupled weight decay, AdamW); Sutskever et al. 2013 (momentum
with the rate inside the velocity); Polyak 1964 (heavy ball); Nesterov 1983; PyTorch's
torch.optim.SGD/Adam/AdamW, torch.nn.utils.clip_grad_norm_ and torch.optim.lr_scheduler;
optax's scale_by_adam, add_decayed_weights, clip_by_global_norm and schedules; Keras's
optimizers and schedules. Which framework computes which form: docs/SPEC.md.

The optimizer's state is data: {"step": k, the updates done so far, and per trainable
parameter its moments "M" and "V" (adam, adamw) or its velocity "B" (momentum)}, each the
parameter's shape and dtype. Python floats (lr_t, the bias corrections) are computed in
float64 and enter an array expression as NumPy scalars of the array's dtype would.
"""

import functools
import math

import numpy as np

from comparisons.protocol.case import OPTIMIZERS, slots_of

from .network import backward_propagation


# --- the learning rate --------------------------------------------------------------------

def step_decay_lr(lr, position, step_size, gamma):
    """lr_t = lr * gamma^floor(position / step_size) (torch StepLR, optax exponential_decay with
    staircase, Keras ExponentialDecay with staircase)."""
    return lr * gamma ** (position // step_size)


def cosine_warmup_lr(lr, position, warmup, decay_steps, start_factor, final_factor):
    """Linear warm-up from start_factor * lr to lr over `warmup` positions, then cosine decay to
    final_factor * lr over `decay_steps`, constant after:
        position < warmup:  lr * (s0 + (1 - s0) * position / warmup)
        otherwise:          lr * (a + (1 - a) * (1 + cos(pi * min(position - warmup,
                                                                   decay_steps) / decay_steps)) / 2)
    (optax warmup_cosine_decay_schedule; Keras CosineDecay with warmup; torch SequentialLR of
    LinearLR and CosineAnnealingLR, which computes the cosine by recursion)."""
    if position < warmup:
        return lr * (start_factor + (1 - start_factor) * position / warmup)
    s = min(position - warmup, decay_steps)
    return lr * (final_factor + (1 - final_factor) * (1 + math.cos(math.pi * s / decay_steps)) / 2)


def learning_rate(lr_schedule, lr, t):
    """The rate of update t (0-based): the schedule at position t + offset (offset 1: the
    scheduler steps before the update); `lr` itself without a schedule."""
    if lr_schedule is None or lr_schedule["name"] == "constant":
        return lr
    position = t + lr_schedule["offset"]
    if lr_schedule["name"] == "step":
        return step_decay_lr(lr, position, lr_schedule["step_size"], lr_schedule["gamma"])
    return cosine_warmup_lr(lr, position, lr_schedule["warmup"], lr_schedule["decay_steps"],
                            lr_schedule["start_factor"], lr_schedule["final_factor"])


# --- the gradient -------------------------------------------------------------------------

def global_norm(grads):
    """||g|| = sqrt( sum over every gradient dP of sum(dP * dP) ). -> 0-d."""
    total = None
    for dP in grads.values():
        s = (dP * dP).sum()
        total = s if total is None else total + s
    return np.sqrt(total)


def clip_factor(norm, max_norm, eps):
    """min(1, max_norm / (||g|| + eps)): eps = 1e-6 in torch.nn.utils.clip_grad_norm_, 0 in
    optax.clip_by_global_norm and tf.clip_by_global_norm. -> 0-d."""
    return np.minimum(max_norm / (norm + eps), 1.0)


@functools.singledispatch  # comparisons/judge/bounds.py adds the route that divides first
def clipped(dP, factor, norm, max_norm):
    """dP * factor (clip_factor of ||g|| = norm): one clipped gradient. optax's and
    tf.clip_by_global_norm compute (dP / ||g||) * max_norm, the same number to rounding."""
    return dP * factor


def clip_by_global_norm(grads, max_norm, eps):
    """Every dP times clip_factor(||g||): the direction kept, the norm at most max_norm."""
    norm = global_norm(grads)
    c = clip_factor(norm, max_norm, eps)
    return {k: clipped(dP, c, norm, max_norm) for k, dP in grads.items()}


def l2_gradient(dP, P, weight_decay):
    """dP + lambda P: coupled weight decay, the gradient of (lambda / 2) ||P||^2 added to the
    loss's (torch.optim.SGD and Adam's weight_decay)."""
    return dP + weight_decay * P


def decayed_weights(P, lr, weight_decay, decay_lr):
    """P (1 - lr lambda) (decay_lr: torch AdamW, optax adamw, Keras's weight_decay) or
    P (1 - lambda) (TF-Addons' AdamW): decoupled weight decay, before the step."""
    return P * (1 - (lr * weight_decay if decay_lr else weight_decay))


# --- the steps ----------------------------------------------------------------------------

def sgd_step(P, dP, lr):
    """P - lr dP."""
    return P - lr * dP


def momentum_velocity(B, dP, momentum, dampening, first):
    """The velocity, the rate outside it (Polyak): B = dP on the first update, then
    B = mu B + (1 - dampening) dP (torch.optim.SGD; optax.sgd's trace, Paddle's and
    MindSpore's Momentum have no dampening)."""
    if first:
        return dP
    return momentum * B + (1 - dampening) * dP


def momentum_step(P, dP, B, lr, momentum, nesterov):
    """P - lr B, or with Nesterov P - lr (dP + mu B) (torch.optim.SGD's form)."""
    return P - lr * (dP + momentum * B if nesterov else B)


def velocity_lr_inside(B, dP, lr, momentum):
    """The velocity with the rate inside it (Sutskever et al. 2013; Keras SGD):
    B = mu B - lr dP, from B = 0."""
    return momentum * B - lr * dP


def momentum_step_lr_inside(P, dP, B, lr, momentum, nesterov):
    """P + B, or with Nesterov P + mu B - lr dP (Keras SGD's form)."""
    return P + (momentum * B - lr * dP if nesterov else B)


@functools.singledispatch  # comparisons/judge/bounds.py and noise.py add the other route
def first_moment(M, dP, beta1):
    """M = beta1 M + (1 - beta1) dP (Kingma & Ba, Algorithm 1), from M = 0. Keras and
    TensorFlow's ApplyAdam compute M + (dP - M)(1 - beta1), the same number to rounding."""
    return beta1 * M + (1 - beta1) * dP


@functools.singledispatch  # as first_moment
def second_moment(V, dP, beta2):
    """V = beta2 V + (1 - beta2) dP^2 (elementwise), from V = 0. Keras: V + (dP^2 - V)(1 -
    beta2)."""
    return beta2 * V + (1 - beta2) * (dP * dP)


def bias_correction(beta, k):
    """1 - beta^k after k updates (a Python float); 1 where bias correction is off."""
    return 1 - beta ** k


def adam_denominator(V, k, beta2, eps, epsilon, corrected):
    """What Adam divides by after k updates, V^ = V / (1 - beta2^k) (V without bias
    correction):
        outside: sqrt(V^) + eps   (Kingma & Ba; torch, optax, Paddle, MindSpore)
        inside:  sqrt(V^ + eps)   (optax's eps_root with eps = 0)
        hat:     sqrt(V) + eps    (Kingma & Ba's eps-hat, TensorFlow and Keras: their eps is
                                   eps-hat = eps * sqrt(1 - beta2^k))"""
    if epsilon == "hat":
        return np.sqrt(V) + eps
    V_hat = V / (bias_correction(beta2, k) if corrected else 1.0)
    if epsilon == "inside":
        return np.sqrt(V_hat + eps)
    return np.sqrt(V_hat) + eps


@functools.singledispatch  # comparisons/judge/bounds.py makes the division rigorous
def adam_direction(M, V, k, beta1, beta2, eps, epsilon, corrected):
    """The step direction after k updates, M^ / adam_denominator, M^ = M / (1 - beta1^k);
    with eps-hat (sqrt(1 - beta2^k) / (1 - beta1^k)) M / adam_denominator. Without bias
    correction M^ = M."""
    c1 = bias_correction(beta1, k) if corrected else 1.0
    den = adam_denominator(V, k, beta2, eps, epsilon, corrected)
    if epsilon == "hat":
        c2 = bias_correction(beta2, k) if corrected else 1.0
        return (c2 ** 0.5 / c1) * (M / den)
    return (M / c1) / den


# --- the update ---------------------------------------------------------------------------

def initial_state(params, optimizer, trainable):
    """The optimizer's state before the first update: step 0 and zero moments or velocities
    for every trainable parameter."""
    state = {"step": 0}
    for s in slots_of(optimizer):
        state[s] = {k: np.zeros_like(params[k]) for k in trainable}
    return state


def optimizer_update(params, grads, state, optimizer, clip, lr, trainable):
    """One update of every trainable parameter from `grads` ("dW1", "db1", ...) at rate `lr`
    (already the schedule's), in the order of the module docstring. Returns (new params, new
    state); the others are as they are."""
    o = optimizer or {"name": "sgd", **OPTIMIZERS["sgd"]}
    g = {k: grads["d" + k] for k in trainable}
    if clip is not None:
        g = clip_by_global_norm(g, clip["max_norm"], clip["eps"])
    wd = o["weight_decay"]
    if wd and o["decay"] == "coupled":
        g = {k: l2_gradient(dP, params[k], wd) for k, dP in g.items()}
    k_new = state["step"] + 1
    new, new_state = dict(params), {"step": k_new}
    for k, dP in g.items():
        P = params[k]
        if wd and o["decay"] == "decoupled":
            P = decayed_weights(P, lr, wd, o["decay_lr"])
        if o["name"] == "sgd":
            new[k] = sgd_step(P, dP, lr)
        elif o["name"] == "momentum":
            if o["velocity"] == "lr_outside":
                B = momentum_velocity(state["B"][k], dP, o["momentum"], o["dampening"],
                                      state["step"] == 0)
                new[k] = momentum_step(P, dP, B, lr, o["momentum"], o["nesterov"])
            else:
                B = velocity_lr_inside(state["B"][k], dP, lr, o["momentum"])
                new[k] = momentum_step_lr_inside(P, dP, B, lr, o["momentum"], o["nesterov"])
            new_state.setdefault("B", {})[k] = B
        else:
            M = first_moment(state["M"][k], dP, o["beta1"])
            V = second_moment(state["V"][k], dP, o["beta2"])
            new[k] = sgd_step(P, adam_direction(M, V, k_new, o["beta1"], o["beta2"], o["eps"],
                                                 o["epsilon"], o["bias_correction"]), lr)
            new_state.setdefault("M", {})[k] = M
            new_state.setdefault("V", {})[k] = V
    return new, new_state


def optimizer_step(params, state, X, Y, activations, loss, reduction, lr, trainable, optimizer,
                   clip):
    """One update of the simultaneous schedule by the case's optimizer: every gradient at the
    old parameters (network.backward_propagation), then `optimizer_update` at rate `lr`.
    Returns (loss before the update, new params, new state)."""
    value, grads = backward_propagation(X, Y, params, activations, loss, reduction,
                                        input_grad=False)
    new, state = optimizer_update(params, grads, state, optimizer, clip, lr, trainable)
    return value, new, state
