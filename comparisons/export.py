"""Golden vectors: every catalogue case's exact float64 numbers, for other languages.

Format `backprop-parity-golden/1`, one JSON file per case plus `index.json`; described in
GOLDEN.md (also written into the export directory). Numbers are JSON numbers in the shortest
decimal form that round-trips to the same float64 (Python's repr), so any correctly rounding
parser recovers the exact bits; each file also carries `hex` copies of the step-0 gradients
and the trajectory (C99 `%a` / `float.fromhex` form) for parsers that do not round correctly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import reference
from reference import network, training

from . import catalogue
from .manifest import manifest

FORMAT = "backprop-parity-golden/1"
DOC = Path(__file__).resolve().parent / "GOLDEN.md"


def _list(a):
    return np.asarray(a, dtype=np.float64).tolist()


def _hex(a):
    return [float(x).hex() for x in np.asarray(a, dtype=np.float64).ravel()]


def golden(case) -> dict:
    """The golden record of one case (float64, computed by the reference)."""
    case = case.replace(dtype="float64")
    X, Y, p = training.cast(case)
    batches = case.batch_order()
    first = batches[0] if batches else np.arange(case.m)
    Xb, Yb = X[:, first], Y[:, first]
    AL, caches = network.forward_propagation(Xb, p, case.activations)
    value, grads = network.backward_propagation(Xb, Yb, p, case.activations, case.loss,
                                                case.reduction)
    result = training.train(case)
    return {
        "format": FORMAT,
        "case": case.to_dict(),
        "batch_order": [b.tolist() for b in batches],
        "step0": {
            "batch": np.asarray(first).tolist(),
            "forward": [{"layer": l, "Z": _list(c["Z"]), "A": _list(c["A"])}
                        for l, c in enumerate(caches, start=1)],
            "loss": float(value),
            "gradients": {k: _list(v) for k, v in grads.items()},
            "gradients_hex": {k: _hex(grads["d" + k]) for k in p},
        },
        "trajectory": _list(result.losses),
        "trajectory_hex": _hex(result.losses),
        "final_params": {k: _list(v) for k, v in result.final_params.items()},
        "final_outputs": _list(result.final_outputs),
    }


def export(directory, names=None, progress=None) -> list[Path]:
    """Write one golden file per case, index.json and GOLDEN.md into `directory`."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    names = names or catalogue.names()
    written = []
    for i, name in enumerate(names, start=1):
        if progress:
            progress(i, len(names), name)
        path = out / f"{name}.json"
        path.write_text(json.dumps(golden(catalogue.get(name)), allow_nan=False) + "\n")
        written.append(path)
    index = {"format": FORMAT, "cases": names,
             "manifest": manifest({"reference": reference.environment()})}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    (out / "GOLDEN.md").write_text(DOC.read_text())
    return written
