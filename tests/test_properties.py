"""Property-based parity: hypothesis draws networks, data and training settings; the three
implementations must agree on every draw (HYPOTHESIS_PROFILE: ci (default, derandomised),
dev, nightly)."""

from hypothesis import given
from hypothesis import strategies as st

from helpers import IMPLS, PAIRS, assert_parity
from reference import Case
from reference.case import generate_data, init_params

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
# Every valid (output activation, loss) pairing.
OUTPUTS = [("sigmoid", "half_sse"), ("sigmoid", "mse"), ("sigmoid", "bce"), ("tanh", "half_sse"),
           ("tanh", "mse"), ("relu", "mse"), ("leaky_relu", "half_sse"), ("identity", "mse"),
           ("identity", "half_sse"), ("softmax", "cce")]


@st.composite
def cases(draw):
    depth = draw(st.integers(1, 4))
    out_act, loss = draw(st.sampled_from(OUTPUTS))
    widths = draw(st.lists(st.integers(1, 16), min_size=depth + 1, max_size=depth + 1))
    if loss == "cce":
        widths[-1] = max(widths[-1], 2)
    m = draw(st.integers(1, 32))
    seed = draw(st.integers(0, 2**16))
    acts = [draw(st.sampled_from(HIDDEN)) for _ in range(depth - 1)] + [out_act]
    kind = "blobs" if loss in ("bce", "cce") else "regression"
    X, Y = generate_data(widths, loss, {"generator": kind, "m": m, "seed": seed})
    batch_size = draw(st.one_of(st.none(), st.integers(1, m)))
    return Case(name="drawn", layers=widths, activations=acts, loss=loss,
                reduction=draw(st.sampled_from(["sum", "mean"])),
                params=init_params(widths, "glorot_uniform", seed), X=X, Y=Y,
                lr=draw(st.sampled_from([0.01, 0.1, 0.5])), epochs=draw(st.integers(1, 3)),
                batch_size=batch_size,
                shuffle_seed=draw(st.one_of(st.none(), st.integers(0, 100))),
                schedule=draw(st.sampled_from(["simultaneous", "sequential"])))


@given(cases())
def test_three_implementations_agree_on_drawn_networks(case):
    results = {k: mod.train(case) for k, mod in IMPLS.items()}
    for a, b in PAIRS:
        assert_parity(results[a], results[b], "float64",
                      f"{a} vs {b} on {case.layers} {case.activations} {case.loss} "
                      f"{case.reduction} m={case.m} bs={case.batch_size} {case.schedule}")
