"""Training small float64 networks on Python floats: the formulas of network.py and
training.py, written as loops over units and samples.

Why: for a network like the worked example (2-2-2, m = 1) a NumPy call costs ~1 µs whatever
its size, and a step makes ~40 of them, so NumPy's per-call overhead, not arithmetic, bounds
a 10,000-update run at ~0.5 s. On Python floats the same step costs ~10 µs. `train` uses this
path for float64 networks with element-wise activations and half_sse, mse or bce, when
parameters x batch size <= SMALL_WORK. Every formula is the one
network.py documents; tests/test_small.py holds the two paths to the same parity tolerance
as the frameworks.
"""

from __future__ import annotations

import math

import numpy as np

from .activations import LEAKY_RELU_SLOPE
from .case import TrainResult, param_names

# Measured break-even: NumPy wins once (parameters x batch samples) passes ~50 (a 3-4-1 net
# on 8 samples: 19 ms here, 8 ms vectorised; the worked example: 0.12 s vs 0.45 s).
SMALL_WORK = 48


def eligible(case) -> bool:
    """Whether `case` runs on this path (see the module docstring)."""
    if case.dtype != "float64" or "softmax" in case.activations or case.loss == "cce":
        return False
    n_params = sum(case.layers[l] * (case.layers[l - 1] + 1) for l in range(1, case.L + 1))
    if n_params > SMALL_WORK:
        return False
    batch = (case.m if case.full_batch or case.updates == 0
             else max(len(b) for b in case.batch_order()))
    return n_params * batch <= SMALL_WORK


def _sigmoid(z):
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


# g(z) for one pre-activation, as activations.py evaluates it, and g'(z) given a = g(z).
_G = {"sigmoid": _sigmoid, "tanh": math.tanh, "relu": lambda z: z if z > 0 else 0.0,
      "leaky_relu": lambda z: z if z > 0 else LEAKY_RELU_SLOPE * z, "identity": lambda z: z}
_G_PRIME = {"sigmoid": lambda z, a: a * (1 - a), "tanh": lambda z, a: 1 - a * a,
            "relu": lambda z, a: 1.0 if z > 0 else 0.0,
            "leaky_relu": lambda z, a: 1.0 if z > 0 else LEAKY_RELU_SLOPE,
            "identity": lambda z, a: 1.0}


class _Net:
    def __init__(self, case):
        self.L, self.acts, self.loss, self.reduction = (case.L, case.activations, case.loss,
                                                        case.reduction)
        self.sizes = case.layers
        self.g = [None] + [_G[a] for a in case.activations]
        self.g_prime = [None] + [_G_PRIME[a] for a in case.activations]
        trainable = set(case.trainable_names)
        self.train_W = [None] + [f"W{l}" in trainable for l in range(1, case.L + 1)]
        self.train_b = [None] + [f"b{l}" in trainable for l in range(1, case.L + 1)]

    def forward(self, W, b, x):
        """Z[l], A[l] of one sample (lists), l = 1..L; A[0] = x."""
        A, Zs, As = x, [None], [x]
        for l in range(1, self.L + 1):
            Wl, bl, g = W[l], b[l], self.g[l]
            Z = [_dot(w, A) + bi for w, bi in zip(Wl, bl)]
            A = [g(z) for z in Z]
            Zs.append(Z)
            As.append(A)
        return Zs, As

    def sample_loss(self, ZL, AL, y):
        n = len(AL)
        if self.loss == "half_sse":
            return _sum([0.5 * ((yi - ai) * (yi - ai)) for ai, yi in zip(AL, y)])
        if self.loss == "mse":
            return _sum([(yi - ai) * (yi - ai) for ai, yi in zip(AL, y)]) / n
        return _sum(max(z, 0.0) - yi * z + math.log1p(math.exp(-abs(z))) for z, yi in zip(ZL, y))

    def output_delta(self, ZL, AL, y, factor):
        if self.loss == "bce":  # fused sigmoid + bce: (A - Y) * factor
            return [(ai - yi) * factor for ai, yi in zip(AL, y)]
        g_prime, n = self.g_prime[self.L], len(AL)
        if self.loss == "half_sse":
            dA = [(ai - yi) * factor for ai, yi in zip(AL, y)]
        else:
            dA = [2 * (ai - yi) / n * factor for ai, yi in zip(AL, y)]
        return [d * g_prime(z, a) for d, z, a in zip(dA, ZL, AL)]


def _dot(w, a):
    s = 0.0
    for wk, ak in zip(w, a):
        s += wk * ak
    return s


def _sum(xs):
    """The correctly rounded sum (math.fsum). Not builtins.sum: from Python 3.12 it
    compensates float sums, so its last bits depend on the Python version; fsum's do not,
    and it is C code, so no slower."""
    return math.fsum(xs)


def _layer_gradients(dZ, fwd, l):
    """dW[l] = dZ[l] A[l-1]^T and db[l] = sum_j dZ[l], over the batch's samples j (summed
    left to right, sample by sample)."""
    a = fwd[0][1][l - 1]
    dW = [[d * ak for ak in a] for d in dZ[0]]
    for j in range(1, len(dZ)):
        a = fwd[j][1][l - 1]
        dW = [[w + d * ak for w, ak in zip(row, a)] for row, d in zip(dW, dZ[j])]
    db = [_sum(col) for col in zip(*dZ)]
    return dW, db


def _propagate(dZ, Wl, fwd, l, g_prime):
    """dA[l-1] = W[l]^T dZ[l], then dZ[l-1] = dA[l-1] * g'(Z[l-1]), per sample."""
    columns = list(zip(*Wl))
    return [[_dot(col, dZj) * g_prime(z, a)
             for col, z, a in zip(columns, fwd[j][0][l - 1], fwd[j][1][l - 1])]
            for j, dZj in enumerate(dZ)]


def _forward_and_delta(net, W, b, xs, ys):
    """Forward pass of every sample, the loss, and dZ[L] per sample."""
    m = len(xs)
    factor = 1.0 if net.reduction == "sum" else 1.0 / m
    fwd = [net.forward(W, b, x) for x in xs]
    total = _sum(net.sample_loss(Zs[-1], As[-1], y) for (Zs, As), y in zip(fwd, ys))
    value = total if net.reduction == "sum" else total / m
    dZ = [net.output_delta(Zs[-1], As[-1], y, factor) for (Zs, As), y in zip(fwd, ys)]
    return fwd, value, dZ


def _step(net, W, b, xs, ys, lr, sequential):
    """One update on the samples xs, ys; returns the loss before it (W, b updated in place).
    `sequential` propagates through the updated W[l], as training.sequential_step does."""
    fwd, value, dZ = _forward_and_delta(net, W, b, xs, ys)
    for l in range(net.L, 0, -1):
        dW, db = _layer_gradients(dZ, fwd, l)
        W_old = W[l]
        if net.train_W[l]:
            W[l] = [[w - lr * d for w, d in zip(wr, dr)] for wr, dr in zip(W_old, dW)]
        if net.train_b[l]:
            b[l] = [v - lr * d for v, d in zip(b[l], db)]
        if l > 1:
            dZ = _propagate(dZ, W[l] if sequential else W_old, fwd, l, net.g_prime[l - 1])
    return value


def gradients(net, W, b, xs, ys):
    """d loss / d param ("W1", "b1", ...) at (W, b) on the samples xs, ys."""
    fwd, _, dZ = _forward_and_delta(net, W, b, xs, ys)
    grads = {}
    for l in range(net.L, 0, -1):
        dW, db = _layer_gradients(dZ, fwd, l)
        grads[f"W{l}"], grads[f"b{l}"] = np.array(dW), np.array(db).reshape(-1, 1)
        if l > 1:
            dZ = _propagate(dZ, W[l], fwd, l, net.g_prime[l - 1])
    return {k: grads[k] for k in param_names(net.L)}


def _perturbed(perturb, W, b, L):
    """Apply a dict-of-arrays `perturb` to the list form of the parameters."""
    params = {}
    for l in range(1, L + 1):
        params[f"W{l}"], params[f"b{l}"] = np.array(W[l]), np.array(b[l])
    params = perturb(params)
    return ([None] + [params[f"W{l}"].tolist() for l in range(1, L + 1)],
            [None] + [params[f"b{l}"].tolist() for l in range(1, L + 1)])


def train(case, perturb=None) -> TrainResult:
    """`reference.training.train` for an eligible case, on Python floats."""
    W = [None] + [case.params[f"W{l}"].tolist() for l in range(1, case.L + 1)]
    b = [None] + [case.params[f"b{l}"][:, 0].tolist() for l in range(1, case.L + 1)]
    cols_x, cols_y = case.X.T.tolist(), case.Y.T.tolist()
    net = _Net(case)
    initial = [net.forward(W, b, x)[1][-1] for x in cols_x]
    sequential = case.schedule == "sequential"
    losses = np.empty(case.updates + 1)
    full = case.full_batch or case.updates == 0
    batches = None if full else [b_.tolist() for b_ in case.batch_order()]
    xs0, ys0 = ((cols_x, cols_y) if full else
                ([cols_x[j] for j in batches[0]], [cols_y[j] for j in batches[0]]))
    grads = gradients(net, W, b, xs0, ys0)
    if perturb is not None:
        W, b = _perturbed(perturb, W, b, case.L)
    for i in range(case.updates):
        if full:
            xs, ys = cols_x, cols_y
        else:
            xs, ys = [cols_x[j] for j in batches[i]], [cols_y[j] for j in batches[i]]
        losses[i] = _step(net, W, b, xs, ys, case.lr, sequential)
        if perturb is not None:
            W, b = _perturbed(perturb, W, b, case.L)
    fwd = [net.forward(W, b, x) for x in cols_x]
    total = _sum(net.sample_loss(Zs[-1], As[-1], y) for (Zs, As), y in zip(fwd, cols_y))
    losses[-1] = total if net.reduction == "sum" else total / case.m
    params = {}
    for l in range(1, case.L + 1):
        params[f"W{l}"] = np.array(W[l], dtype=np.float64).reshape(case.layers[l], case.layers[l - 1])
        params[f"b{l}"] = np.array(b[l], dtype=np.float64).reshape(-1, 1)
    outputs = np.array([As[-1] for _, As in fwd], dtype=np.float64).T
    return TrainResult(losses=losses, gradients=grads, final_params=params,
                       final_outputs=outputs,
                       initial_outputs=np.array(initial, dtype=np.float64).T)
