"""The framework defects ERRATA.md reports, reproduced by the standalone scripts in findings/
against the installed versions: each must still exit 1 (the defect is present). When one exits
0, the framework has fixed it: update ERRATA.md and the implementation's declared expected
failure, then this list."""

import importlib.util
import subprocess
import sys

import pytest

from helpers import ROOT

SCRIPTS = sorted((ROOT / "findings").glob("*.py"))
FRAMEWORK = {"torch": "torch", "tensorflow": "tensorflow", "paddle": "paddle",
             "mindspore": "mindspore"}


def _interpreter(module: str) -> str | None:
    """The interpreter that has `module`: this one, or the environment of its own the
    implementation declares (MindSpore's); None where neither has it."""
    if importlib.util.find_spec(module) is not None:
        return sys.executable
    from comparisons import protocol
    impl = protocol.resolve(module) if module in protocol.registered() else None
    python = impl.interpreter() if impl is not None else None
    return python if python and impl.missing() is None else None


def test_every_finding_is_in_the_errata_and_the_index():
    errata = (ROOT / "ERRATA.md").read_text()
    index = (ROOT / "findings" / "README.md").read_text()
    assert SCRIPTS
    for s in SCRIPTS:
        assert f"findings/{s.name}" in errata and f"`{s.name}`" in index, s.name


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
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
