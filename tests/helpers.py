"""Shared test helpers: independent oracles (central finite differences), the main job's
results (run once per session, in the background), and judging helpers."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from comparisons import catalogue
from reference import TrainResult

ROOT = Path(__file__).resolve().parent.parent

# Central differences: truncation error ~ h^2 |f'''| / 6, rounding ~ eps |f| / h; the step
# h = eps^(1/3) ~ 6e-6 balances them at ~ eps^(2/3) ~ 4e-11 relative to the function's
# scale, so agreement to FD_RTOL = 1e-7 leaves a margin of ~1000 for curvature.
FD_STEP = float(np.finfo(np.float64).eps) ** (1 / 3)
FD_RTOL = 1e-7


def numerical_gradient(f, x, h=FD_STEP):
    """d f / d x by central differences, f: array -> scalar, x: float64 array."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += step
        xm[i] -= step
        g[i] = (float(f(xp)) - float(f(xm))) / (2 * step)
    return g


def numerical_jvp_elementwise(g, Z, h=FD_STEP):
    """g'(Z) element-wise for an element-wise g, by central differences."""
    step = h * np.maximum(1.0, np.abs(Z))
    return (g(Z + step) - g(Z - step)) / (2 * step)


def assert_fd_close(analytic, numeric, what):
    scale = max(1.0, float(np.max(np.abs(numeric))))
    err = float(np.max(np.abs(np.asarray(analytic) - numeric)))
    assert err <= FD_RTOL * scale, f"{what}: |analytic - FD| = {err:.3e} > {FD_RTOL * scale:.1e}"


def printed(value, published):
    """`value` rounds to `published` at the number of decimals it is printed with."""
    decimals = len(published.split(".")[1])
    return round(float(value), decimals) == float(published)


def mazur(schedule="sequential", **changes):
    case = catalogue.get(f"mazur-{schedule}")
    return case.replace(**changes) if changes else case


# --- The main job, run once in the background for the tests that read its results -----------

_JOB: dict = {}
CLEAN_COPY = "reference_copy"


def start_main_job() -> None:
    """Start `python -m comparisons` on the whole catalogue in the background (it takes most
    of the suite's time; the rest of the suite runs meanwhile)."""
    if "proc" in _JOB:
        return
    import mutants
    out = Path(tempfile.mkdtemp(prefix="bp-main-job-"))
    _JOB["out"] = out
    _JOB["stdout"] = open(out / "stdout.txt", "w+")
    _JOB["stderr"] = open(out / "stderr.txt", "w+")
    # Beside the registered implementations: an unmutated copy of the reference, the control of
    # the mutation test (tests/test_mutations.py), as a plugin named by module path.
    copy = mutants.plant(out, CLEAN_COPY)
    _JOB["proc"] = subprocess.Popen(
        [sys.executable, "-m", "comparisons", "--out", str(out / "report"), "--no-plots",
         "--quiet", "--impl", *registered_names(own=True), copy], stdout=_JOB["stdout"],
        stderr=_JOB["stderr"], cwd=ROOT,
        env=dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(out)))


def stop_main_job() -> None:
    proc = _JOB.pop("proc", None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclasses.dataclass
class MainJob:
    returncode: int
    stdout: str
    stderr: str
    doc: dict            # results.json
    out: Path

    def result(self, case: str, impl: str) -> TrainResult:
        d = self.doc["cases"][case][impl]
        return TrainResult(losses=np.array(d["losses"]),
                           gradients={k: np.array(v) for k, v in d["gradients"].items()},
                           final_params={k: np.array(v) for k, v in d["final_params"].items()},
                           final_outputs=np.array(d["final_outputs"]),
                           initial_outputs=np.array(d["initial_outputs"]))

    def verdicts(self, case: str | None = None) -> list[dict]:
        return [v for v in self.doc["parity"] if case is None or v["case"] == case]


@functools.lru_cache(maxsize=None)
def main_job() -> MainJob:
    start_main_job()
    proc = _JOB["proc"]
    proc.wait(timeout=900)
    _JOB["stdout"].seek(0)
    _JOB["stderr"].seek(0)
    report = _JOB["out"] / "report"
    doc = json.loads((report / "results.json").read_text()) if (report / "results.json").exists() else {}
    return MainJob(proc.returncode, _JOB["stdout"].read(), _JOB["stderr"].read(), doc, report)


# --- Judging in this process -----------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def implementation(name: str):
    """A registered implementation's declaration and module (imported here)."""
    from comparisons import protocol
    impl = protocol.resolve(name)
    return impl, impl.load()


def registered_names(own: bool = False) -> list[str]:
    """The registered implementations (with own=True, the suite's own, not plugins)."""
    from comparisons import protocol
    return list(protocol.registered(own))


def judge(case, results: dict) -> list:
    """Verdicts of {impl: TrainResult} for `case`, with the declared expected failures."""
    from comparisons import judge as judging
    oracle = judging.make_oracle(case)
    runs = {n: judging.Run(n, "ok", r, 0.0) for n, r in results.items()}
    expected = {n: implementation(n)[0].expected_failure(case) for n in results}
    return judging.judge_case(oracle, runs, {n: x for n, x in expected.items() if x})


def assert_no_failure(verdicts, context: str = "") -> None:
    bad = [v for v in verdicts if v.failing]
    if bad:
        lines = "\n".join(f"{v.case} {v.dtype} {v.pair}: {v.status}: {v.message}\n"
                          + "\n".join("    " + r.line() for r in v.rows if not r.ok) for v in bad)
        raise AssertionError(f"{context}: parity failed\n{lines}")
