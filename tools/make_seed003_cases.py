"""Write the seed-003 catalogue cases: the seed's own np.random.seed(42) sequence gives the
initial parameters (weights = rand(2, 1), bias = rand(1)) and, epoch by epoch, the shuffles.

The seed's loop permutes X and y *in place of the previous order* (X = X[indices]), so the
batch at a given position is the running composition of all shuffles so far; this script
records it as explicit sample indices into the original data. Run from the repository root:
    python tools/make_seed003_cases.py
tests/test_catalogue.py re-derives both and checks the files against them.
"""

import json
from pathlib import Path

import numpy as np

EPOCHS, BATCH_SIZE, M = 10_000, 2, 4
OUT = Path(__file__).resolve().parent.parent / "comparisons" / "catalogue"


def seed003_sequence():
    """(weights (2, 1), bias (1,), batches): what the seed's script draws, in its order."""
    np.random.seed(42)
    weights = np.random.rand(2, 1)
    bias = np.random.rand(1)
    order = np.arange(M)
    batches = []
    for _ in range(EPOCHS):
        indices = np.arange(M)
        np.random.shuffle(indices)
        order = order[indices]
        batches += [order[i:i + BATCH_SIZE].tolist() for i in range(0, M, BATCH_SIZE)]
    return weights, bias, batches


def main():
    weights, bias, batches = seed003_sequence()
    for labels, name, what in (([0, 1, 1, 0], "seed003-xor", "XOR labels, as the script has them "
                                "(its comment says logical AND); one sigmoid unit cannot "
                                "represent XOR and its outputs stay near 0.5"),
                               ([0, 0, 0, 1], "seed003-and", "the logical AND labels the "
                                "script's comment meant, which one sigmoid unit learns")):
        case = {
            "name": name,
            "description": "The seed-003 program reproduced exactly: one sigmoid unit, "
                           "mini-batch gradient descent on the summed half squared error, "
                           "batch size 2, reshuffled every epoch with the script's own "
                           f"np.random.seed(42) sequence; {what}.",
            "source": "seed 003",
            "dtype": "float64",
            "layers": [2, 1], "activations": ["sigmoid"],
            "loss": "half_sse", "reduction": "sum",
            "params": {"W1": weights.T.tolist(), "b1": [bias.tolist()]},
            "X": [[0, 0, 1, 1], [0, 1, 0, 1]], "Y": [labels],
            # The explicit order is the script's 10,000 epochs of batch size 2.
            "train": {"lr": 0.1, "schedule": "simultaneous", "batches": batches},
        }
        text = json.dumps(case, indent=2)
        # Keep the 20,000 batches on one line each block of 50, not one number per line.
        head, _, _ = text.partition('"batches": [')
        rows = [", ".join(json.dumps(b) for b in batches[i:i + 50])
                for i in range(0, len(batches), 50)]
        text = head + '"batches": [\n      ' + ",\n      ".join(rows) + "\n    ]\n  }\n}\n"
        json.loads(text)
        (OUT / f"{name}.json").write_text(text)


if __name__ == "__main__":
    main()
