"""Each framework's kink conventions, relu'(0) and leaky_relu'(0), as its own activations
compute them, measured in a process of its own (some frameworks cannot share one: ERRATA.md),
for docs/FRAMEWORKS.md (comparisons/report/frameworks.py). Each training worker measures its
implementation's when it starts and reports them with its environment (the manifest's
`kink_conventions`); `kink_conventions` below starts a process for one that has none there."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np


def kink_conventions(impl) -> tuple[str, str]:
    """(relu'(0), leaky_relu'(0)) as the implementation's own activations compute them, each
    framework in a process of its own (some cannot share one: ERRATA.md), or '–' where it
    has no per-formula modules to ask."""
    if impl.command:  # no per-formula modules to ask
        return "–", "–"
    proc = subprocess.run([impl.interpreter() or sys.executable, "-m",
                           "comparisons.execution.conventions",
                           impl.module], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl.name}: its conventions could not be measured: "
                           f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return tuple(json.loads(proc.stdout))


def measure(module: str) -> list[str]:
    """In the child: relu'(0) and leaky_relu'(0) of the package `module`, as text."""
    try:
        act = importlib.import_module(f"{module}.activations")
        training = importlib.import_module(f"{module}.training")
    except ModuleNotFoundError:
        return ["–", "–"]
    zero = training.as_array(np.zeros((1, 1)), "float64")
    return [f"{float(np.asarray(training.as_numpy(f(zero)))[0, 0]):g}"
            for f in (act.relu_derivative, act.leaky_relu_derivative)]


if __name__ == "__main__":  # python -m comparisons.execution.conventions MODULE
    print(json.dumps(measure(sys.argv[1])))
