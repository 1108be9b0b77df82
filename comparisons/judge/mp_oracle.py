"""A high-precision oracle: the same networks in mpmath (40 significant digits by default).

Independent of the float64 code: plain Python lists of mpf numbers, written from the
formulas, no NumPy. Used to measure the float64 reference's error and to show which
published figures are correctly rounded. Small networks only (it is ~1e4 times slower).
"""

from __future__ import annotations

import mpmath as mp

DIGITS = 40


def _mat(a):
    return [[mp.mpf(float(x)) for x in row] for row in a]


def _act(name, z):
    if name == "sigmoid":
        return 1 / (1 + mp.exp(-z))
    if name == "tanh":
        return mp.tanh(z)
    if name == "relu":
        return z if z > 0 else mp.mpf(0)
    if name == "leaky_relu":
        return z if z > 0 else mp.mpf("0.01") * z
    return z


def _dact(name, z):
    if name == "sigmoid":
        s = 1 / (1 + mp.exp(-z))
        return s * (1 - s)
    if name == "tanh":
        return 1 - mp.tanh(z) ** 2
    if name == "relu":
        return mp.mpf(1) if z > 0 else mp.mpf(0)
    if name == "leaky_relu":
        return mp.mpf(1) if z > 0 else mp.mpf("0.01")
    return mp.mpf(1)


class MPNetwork:
    """A case's network in mpmath: forward, loss, gradient and both update schedules."""

    def __init__(self, case, digits: int = DIGITS):
        self.case = case
        self.digits = digits
        self.L = case.L
        with mp.workdps(digits):
            self.params = {k: _mat(v) for k, v in case.params.items()}
            self.X, self.Y = _mat(case.X), _mat(case.Y)

    def _columns(self, M, idx):
        return [[row[j] for j in idx] for row in M]

    def forward(self, params, X):
        """[(A_prev, Z, A) per layer] for the columns of X."""
        A, caches = X, []
        m = len(X[0])
        for l, g in enumerate(self.case.activations, start=1):
            W, b = params[f"W{l}"], params[f"b{l}"]
            Z = [[mp.fsum(W[i][k] * A[k][j] for k in range(len(A))) + b[i][0] for j in range(m)]
                 for i in range(len(W))]
            if g == "softmax":
                cols = []
                for j in range(m):
                    e = [mp.exp(Z[i][j]) for i in range(len(Z))]
                    s = mp.fsum(e)
                    cols.append([x / s for x in e])
                An = [[cols[j][i] for j in range(m)] for i in range(len(Z))]
            else:
                An = [[_act(g, z) for z in row] for row in Z]
            caches.append((A, Z, An))
            A = An
        return caches

    def loss(self, AL, Y):
        n, m = len(AL), len(AL[0])
        per = []
        for j in range(m):
            a, y = [AL[i][j] for i in range(n)], [Y[i][j] for i in range(n)]
            if self.case.loss == "half_sse":
                per.append(mp.fsum((yi - ai) ** 2 for ai, yi in zip(a, y)) / 2)
            elif self.case.loss == "mse":
                per.append(mp.fsum((yi - ai) ** 2 for ai, yi in zip(a, y)) / n)
            elif self.case.loss == "bce":
                per.append(-mp.fsum(yi * mp.log(ai) + (1 - yi) * mp.log(1 - ai)
                                    for ai, yi in zip(a, y)))
            else:
                per.append(-mp.fsum(yi * mp.log(ai) for ai, yi in zip(a, y)))
        total = mp.fsum(per)
        return total if self.case.reduction == "sum" else total / m

    def _output_delta(self, AL, ZL, Y):
        n, m = len(AL), len(AL[0])
        f = 1 if self.case.reduction == "sum" else mp.mpf(1) / m
        loss, g = self.case.loss, self.case.activations[-1]
        if loss in ("bce", "cce"):
            return [[(AL[i][j] - Y[i][j]) * f for j in range(m)] for i in range(n)]
        c = 1 if loss == "half_sse" else mp.mpf(2) / n
        return [[c * (AL[i][j] - Y[i][j]) * f * _dact(g, ZL[i][j]) for j in range(m)]
                for i in range(n)]

    def _layer_grads(self, dZ, A_prev):
        dW = [[mp.fsum(dZ[i][j] * A_prev[k][j] for j in range(len(dZ[0])))
               for k in range(len(A_prev))] for i in range(len(dZ))]
        db = [[mp.fsum(row)] for row in dZ]
        return dW, db

    def _propagate(self, dZ, W, Z_prev, g_prev):
        m = len(dZ[0])
        return [[mp.fsum(W[i][k] * dZ[i][j] for i in range(len(W))) * _dact(g_prev, Z_prev[k][j])
                 for j in range(m)] for k in range(len(W[0]))]

    def step(self, params, idx, schedule, lr, trainable):
        """One update on the batch `idx`; returns (loss before it, new params)."""
        X, Y = self._columns(self.X, idx), self._columns(self.Y, idx)
        caches = self.forward(params, X)
        value = self.loss(caches[-1][2], Y)
        dZ = self._output_delta(caches[-1][2], caches[-1][1], Y)
        new = dict(params)
        for l in range(self.L, 0, -1):
            dW, db = self._layer_grads(dZ, caches[l - 1][0])
            for k, d in ((f"W{l}", dW), (f"b{l}", db)):
                if k in trainable:
                    new[k] = [[p - lr * q for p, q in zip(pr, dr)] for pr, dr in zip(params[k], d)]
            if l > 1:
                W = new[f"W{l}"] if schedule == "sequential" else params[f"W{l}"]
                dZ = self._propagate(dZ, W, caches[l - 2][1], self.case.activations[l - 2])
        return value, new

    def gradients(self, idx=None):
        """d loss / d param at the case's initial parameters on the batch `idx`."""
        with mp.workdps(self.digits):
            idx = list(range(self.case.m)) if idx is None else list(idx)
            X, Y = self._columns(self.X, idx), self._columns(self.Y, idx)
            caches = self.forward(self.params, X)
            dZ = self._output_delta(caches[-1][2], caches[-1][1], Y)
            out = {}
            for l in range(self.L, 0, -1):
                out[f"W{l}"], out[f"b{l}"] = self._layer_grads(dZ, caches[l - 1][0])
                if l > 1:
                    dZ = self._propagate(dZ, self.params[f"W{l}"], caches[l - 2][1],
                                         self.case.activations[l - 2])
            return out

    def train(self, updates: int | None = None):
        """(losses, final params, final outputs) like TrainResult, as mpf values; `updates`
        limits the run to the first updates of the batch order."""
        with mp.workdps(self.digits):
            batches = self.case.batch_order()
            if updates is not None:
                batches = batches[:updates]
            lr = mp.mpf(self.case.lr)
            params, losses = self.params, []
            for idx in batches:
                value, params = self.step(params, [int(i) for i in idx], self.case.schedule, lr,
                                          self.case.trainable_names)
                losses.append(value)
            caches = self.forward(params, self.X)
            losses.append(self.loss(caches[-1][2], self.Y))
            return losses, params, caches[-1][2]
