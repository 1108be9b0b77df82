"""Random cases for a property campaign: networks, data and training settings drawn by a
seeded NumPy generator (`conform`; tests/test_properties.py draws the same kinds of cases
through hypothesis, with shrinking)."""

from __future__ import annotations

import numpy as np

from comparisons.protocol.case import Case, generate_data, init_params

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
# Every valid (output activation, loss) pairing.
OUTPUTS = [("sigmoid", "half_sse"), ("sigmoid", "mse"), ("sigmoid", "bce"), ("tanh", "half_sse"),
           ("tanh", "mse"), ("relu", "mse"), ("leaky_relu", "half_sse"), ("identity", "mse"),
           ("identity", "half_sse"), ("softmax", "cce")]
LEARNING_RATES = [0.01, 0.1, 0.5]  # per sample: divided by the batch size for `sum`


def build(name, widths, acts, loss, reduction, m, seed, batch_size, lr, epochs, shuffle_seed,
          schedule, trainable, dtype) -> Case:
    """A case from drawn choices (the data and parameters from `seed`)."""
    kind = "blobs" if loss in ("bce", "cce") else "regression"
    X, Y = generate_data(widths, loss, {"generator": kind, "m": m, "seed": seed})
    if reduction == "sum":
        lr /= batch_size or m
    return Case(name=name, layers=widths, activations=acts, loss=loss, reduction=reduction,
                params=init_params(widths, "glorot_uniform", seed), X=X, Y=Y, lr=lr,
                epochs=epochs, batch_size=batch_size, shuffle_seed=shuffle_seed,
                schedule=schedule, trainable=trainable, dtype=dtype)


def draw(rng: np.random.Generator, name: str) -> Case:
    """One random case: depth 1-4, widths 1-16, m 1-32, every valid output pairing, both
    reductions, schedules and dtypes, full batch or mini-batches, some parameters frozen."""
    depth = int(rng.integers(1, 5))
    out_act, loss = OUTPUTS[rng.integers(len(OUTPUTS))]
    widths = [int(w) for w in rng.integers(1, 17, depth + 1)]
    if loss == "cce":
        widths[-1] = max(widths[-1], 2)
    m = int(rng.integers(1, 33))
    acts = [HIDDEN[rng.integers(len(HIDDEN))] for _ in range(depth - 1)] + [out_act]
    names = [f"{p}{l}" for l in range(1, depth + 1) for p in "Wb"]
    trainable = (None if rng.random() < 0.7 else
                 [n for n in names if rng.random() < 0.6] or [names[0]])
    return build(name, widths, acts, loss, ["sum", "mean"][rng.integers(2)], m,
                 int(rng.integers(0, 2 ** 16)),
                 None if rng.random() < 0.3 else int(rng.integers(1, m + 1)),
                 LEARNING_RATES[rng.integers(len(LEARNING_RATES))], int(rng.integers(1, 4)),
                 None if rng.random() < 0.5 else int(rng.integers(0, 101)),
                 ["simultaneous", "sequential"][rng.integers(2)], trainable,
                 "float32" if rng.random() < 1 / 3 else "float64")


def cases(n: int, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    return [draw(rng, f"campaign-{seed}-{i}") for i in range(n)]
