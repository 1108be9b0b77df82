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

from comparisons.protocol.case import Case


def kink_conventions(impl) -> tuple[str, str]:
    """(relu'(0), leaky_relu'(0)) as the implementation's own activations compute them, each
    framework in a process of its own (some cannot share one: ERRATA.md), or '–' where it
    has none to ask (a command)."""
    if impl.command:  # no per-formula modules to ask
        return "–", "–"
    proc = subprocess.run([impl.interpreter() or sys.executable, "-m",
                           "comparisons.execution.conventions",
                           impl.module], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl.name}: its conventions could not be measured: "
                           f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return tuple(json.loads(proc.stdout))


def measure(module: str, through_train: bool = True) -> list[str] | None:
    """In the child: relu'(0) and leaky_relu'(0) of the package `module`, as text. A package
    without per-formula modules (one that trains with its framework's own layers) is asked
    through its train (`through_train`; else None: a training worker leaves that to
    `kink_conventions`)."""
    try:
        act = importlib.import_module(f"{module}.activations")
        training = importlib.import_module(f"{module}.training")
    except ModuleNotFoundError:
        return measure_through_train(module) if through_train else None
    zero = training.as_array(np.zeros((1, 1)), "float64")
    return [f"{float(np.asarray(training.as_numpy(f(zero)))[0, 0]):g}"
            for f in (act.relu_derivative, act.leaky_relu_derivative)]


def measure_through_train(module: str) -> list[str]:
    """g'(0) through the package's train: a 1-1-1 network whose Z1 is exactly 0 (X = 0,
    b1 = 0), where db1 = W2 dZ2 g'(0) and W2 dZ2 = -0.75 exactly; '–' where it cannot run
    that case."""
    train = getattr(importlib.import_module(module), "train", None)
    out = []
    for g in ("relu", "leaky_relu"):
        case = Case(name="kink", layers=[1, 1, 1], activations=[g, "identity"], loss="mse",
                    reduction="mean", params={"W1": np.array([[0.7]]), "b1": np.array([[0.0]]),
                                              "W2": np.array([[0.5]]), "b2": np.array([[0.25]])},
                    X=np.array([[0.0]]), Y=np.array([[1.0]]), lr=0.1, epochs=1)
        try:
            db1 = float(np.asarray(train(case).gradients["b1"])[0, 0])
        except Exception:  # noqa: BLE001  (a package that cannot run it: nothing measured)
            return ["–", "–"]
        out.append(f"{db1 / -0.75 + 0.0:g}")  # + 0.0: relu's -0.0 as 0
    return out


if __name__ == "__main__":  # python -m comparisons.execution.conventions MODULE
    print(json.dumps(measure(sys.argv[1])))
