"""The framework defects ERRATA.md reports, reproduced by the standalone scripts in findings/
against the installed versions: each must still exit 1 (the defect is present). When one exits
0, the framework has fixed it: update ERRATA.md and the implementation's declared expected
failure, then this list. Two of them also through the implementations' own functions."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from comparisons import protocol
from comparisons.judge.bounds import UNIT_ROUNDOFF
from helpers import ROOT, modules

SCRIPTS = sorted((ROOT / "findings").glob("*.py"))
FRAMEWORK = {"torch": "torch", "tensorflow": "tensorflow", "paddle": "paddle",
             "mindspore": "mindspore", "optax": "optax", "keras": "keras", "jax": "jax"}


def _interpreter(module: str) -> str | None:
    """The interpreter that has `module`: this one, or the environment of its own the
    implementation declares (MindSpore's); None where neither has it."""
    if importlib.util.find_spec(module) is not None:
        return sys.executable
    impl = protocol.resolve(module) if module in protocol.registered() else None
    python = impl.interpreter() if impl is not None else None
    return python if python and impl.missing() is None else None


def test_every_finding_is_in_the_errata_and_the_index():
    errata = (ROOT / "ERRATA.md").read_text()
    index = (ROOT / "findings" / "README.md").read_text()
    assert SCRIPTS
    for s in SCRIPTS:
        assert f"findings/{s.name}" in errata and f"`{s.name}`" in index, s.name


def _first_of_its_framework(script) -> bool:
    fw = script.stem.split("_")[0]
    return script == next(s for s in SCRIPTS if s.stem.split("_")[0] == fw)


# CI runs one script per framework (its install, and the mechanism); the others at night. The
# versions are pinned (constraints.txt), so a finding changes only with a pin, which the
# nightly run that follows checks. (MindSpore's and Paddle's scripts start their framework:
# 2-4 s each.)
NIGHTLY_FINDING = pytest.mark.nightly("a finding of a framework whose first finding CI runs, 2-4 s "
                                      "each; the versions are pinned in constraints.txt")


@pytest.mark.parametrize("script", [s if _first_of_its_framework(s) else
                                    pytest.param(s, marks=NIGHTLY_FINDING) for s in SCRIPTS],
                         ids=[s.stem for s in SCRIPTS])
def test_the_finding_still_reproduces(script):
    module = FRAMEWORK[script.stem.split("_")[0]]
    python = _interpreter(module)
    if python is None:
        pytest.skip(f"{module} is not installed")
    proc = subprocess.run([python, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert proc.returncode == 1, (f"{script.name} exits 0: the defect is fixed in this version "
                                  f"({proc.stdout.strip()}); update ERRATA.md and the expected "
                                  "failure it declares")
    assert "deviation" in proc.stdout or "suite" in proc.stdout, proc.stdout


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_bce_with_logits_cancels_for_confident_negatives(dtype):
    """A defect this suite found (ERRATA.md; torch_impl declares it): torch computes
    (1 - y) z - log_sigmoid(z), which for y = 0, z << 0 cancels two terms of size |z| into
    e^z. The reference's formula (TF's too) stays within a few u of the exact value."""
    mods, ref = modules("torch"), modules("reference")
    z = np.array([[-20.0]])  # the figures ERRATA.md quotes
    y = np.zeros_like(z)
    exact = np.log1p(np.exp(z.astype(np.longdouble))).sum()
    got = float(mods["training"].as_numpy(mods["losses"].bce_from_logits(
        mods["training"].as_array(z, dtype), mods["training"].as_array(y, dtype), "sum")))
    mine = float(ref["losses"].bce_from_logits(z.astype(dtype), y.astype(dtype), "sum"))
    u = UNIT_ROUNDOFF[dtype]
    assert abs(mine - exact) / exact < 8 * u
    rel = float(abs(got - exact) / exact)
    assert (0.5 < rel <= 1.0) if dtype == "float32" else (1e-7 < rel < 1e-6), rel


def test_tensorflow_leaky_relu_slope_is_float32():
    """A defect this suite found (ERRATA.md; tensorflow_impl declares it): the slope of
    tf.nn.leaky_relu is a 32-bit attribute, so in float64 it is float32(0.01)."""
    mods = modules("tensorflow")
    z = mods["training"].as_array(np.array([[-1.0]]), "float64")
    got = mods["training"].as_numpy(mods["activations"].leaky_relu(z))[0, 0]
    slope = mods["training"].as_numpy(mods["activations"].leaky_relu_derivative(z))[0, 0]
    assert got == -float(np.float32(0.01)) and slope == float(np.float32(0.01)) != 0.01
