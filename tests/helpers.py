"""Shared test helpers: independent oracles (central finite differences), the main job's
results (run once per session, in the background), and judging helpers."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from comparisons import catalogue, protocol
from comparisons.protocol.case import Case, generate_data, init_params
from reference import TrainResult

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "comparisons"]  # the command line, as a user runs it


def cli(*args, pythonpath=None, env=None, cwd=ROOT, timeout=600):
    """`python -m comparisons ARGS` in a process of its own, as a user types it (exit status,
    stdout, stderr: a CompletedProcess). `pythonpath`: the directories PYTHONPATH holds (planted
    packages, tests/plugins); `env`: more variables. In-process calls use comparisons.cli.main."""
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env=_cli_env(pythonpath, env), timeout=timeout,
                          stdin=subprocess.DEVNULL)


def cli_popen(*args, pythonpath=None, env=None, cwd=ROOT, **popen):
    """The same command line, started and left running (to signal it)."""
    return subprocess.Popen(CLI + [str(a) for a in args], cwd=cwd,
                            env=_cli_env(pythonpath, env), **popen)


# Runs the CLI and, at exit, writes the peak resident memory of this process's own address space
# (VmHWM, KiB) to a file. Not ru_maxrss: Linux carries that across exec from the parent.
_MEASURED = ("import atexit, os, runpy, sys; atexit.register(lambda: open("
             "os.environ['BP_PEAK_FILE'], 'w').write(next(l.split()[1] for l in "
             "open('/proc/self/status') if l.startswith('VmHWM')))); "
             "sys.argv = ['comparisons'] + sys.argv[1:]; "
             "runpy.run_module('comparisons', run_name='__main__')")


def cli_measured(*args, cwd=None, env=None, timeout=300):
    """The same command line, tests/plugins on the path, and its peak resident memory:
    (CompletedProcess, the child's peak in MB)."""
    with tempfile.NamedTemporaryFile("r") as peak:
        proc = subprocess.run([sys.executable, "-c", _MEASURED, *map(str, args)],
                              capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout,
                              env=_cli_env([ROOT / "tests"], dict(env or {},
                                                                  BP_PEAK_FILE=peak.name)),
                              stdin=subprocess.DEVNULL)
        kib = peak.read().strip()
    return proc, int(kib) / 1024 if kib else float("nan")


def _cli_env(pythonpath, env) -> dict:
    out = dict(os.environ, **(env or {}))
    if pythonpath is not None:
        out["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return out

# Central differences: truncation error ~ h^2 |f'''| / 6, rounding ~ eps |f| / h; the step
# h = eps^(1/3) ~ 6e-6 balances them at ~ eps^(2/3) ~ 4e-11 relative to the function's
# scale, so agreement to FD_RTOL = 1e-7 leaves a margin of ~1000 for curvature.
FD_STEP = float(np.finfo(np.float64).eps) ** (1 / 3)
FD_RTOL = 1e-7


# At realistic width every element is too many: a seeded sample, with the largest.
FD_SAMPLE = 48


def fd_indices(g) -> list:
    """Every index of g, or above FD_SAMPLE elements a seeded sample and argmax |g|."""
    g = np.asarray(g)
    if g.size <= FD_SAMPLE:
        return list(np.ndindex(g.shape))
    flat = np.random.default_rng(0).choice(g.size, FD_SAMPLE, replace=False).tolist()
    flat.append(int(np.argmax(np.abs(g))))
    return [np.unravel_index(i, g.shape) for i in dict.fromkeys(flat)]


def numerical_gradient(f, x, h=FD_STEP, at=None):
    """d f / d x by central differences, f: array -> scalar, x: float64 array; only at the
    indices `at` when given (0 elsewhere)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in (np.ndindex(x.shape) if at is None else at):
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


def diverging():
    """Mean squared error on a relu net at a step size that overflows after a few updates."""
    layers = [3, 8, 2]
    X, Y = generate_data(layers, "mse", {"generator": "regression", "m": 6, "seed": 1})
    return Case(name="diverging", layers=layers, activations=["relu", "identity"], loss="mse",
                reduction="sum", params=init_params(layers, "normal", 1, scale=3.0), X=X, Y=Y,
                lr=3.0, epochs=40, schedule="simultaneous")


# --- The main job's results: the report of the install command's main job when it is fresh,
# else one run in the background for the tests that read them ---------------------------

_JOB: dict = {}
REPORT = ROOT / "parity-report"
CLEAN_COPY = "reference_copy"


def fresh_report() -> Path | None:
    """parity-report/ when the main job that wrote it judged the whole catalogue with every
    implementation this suite judges (the plugins installed beside them included), from this
    very code and these versions (the digest in its manifest: comparisons.manifest.digest),
    as the README's install command leaves it; else None. Its numbers are then the ones a new
    run would give, so the tests read them."""
    try:
        doc = json.loads((REPORT / "results.json").read_text())
    except (OSError, ValueError):
        return None
    from comparisons import protocol
    from comparisons.execution import runner
    from comparisons.report import manifest
    own, missing = runner.select(registered_names(own=True))
    judged = doc.get("implementations", [])
    if missing or not set(own) <= set(judged) or sorted(doc.get("cases", {})) != catalogue.names():
        return None
    try:  # the install command's job also judges the plugins installed beside the suite
        impls, gone = runner.select([n for n in judged if n != protocol.ORACLE])
    except protocol.ProtocolError:
        return None
    if gone or doc.get("digest") != manifest.digest(impls):
        return None
    return REPORT


def _job_dir() -> Path:
    """Where this code's main job runs when parity-report/ is not fresh (every registered
    implementation, as the README's install command runs it, so that the documented figures
    hold for either): one directory per digest, shared by the processes of one session
    (pytest-xdist's workers) and reused by the next session of the same code."""
    from comparisons.execution import runner
    from comparisons.report import manifest
    impls, _ = runner.select(registered_names())
    return Path(tempfile.gettempdir()) / f"bp-main-job-{manifest.digest(impls)[:16]}"


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
        return True
    except (OSError, ValueError):
        return False


def start_main_job() -> None:
    """Unless parity-report/ is fresh, make sure `python -m comparisons` runs on the whole
    catalogue in the background (the rest of the suite runs meanwhile): the first process of
    the session to get here starts it (mkdir is the lock), the others wait for the same run."""
    if "report" in _JOB:
        return
    report = fresh_report()
    if report is not None:
        _JOB["report"] = report
        return
    d = _job_dir()
    _JOB["dir"], _JOB["report"] = d, d / "report"
    try:
        d.mkdir()
    except FileExistsError:
        if (d / "rc").exists() or _alive(d / "pid") or not (d / "pid").exists() and (
                time.time() - d.stat().st_mtime < 30):  # finished, running, or just starting
            return
        shutil.rmtree(d, ignore_errors=True)  # an interrupted run: start afresh
        try:
            d.mkdir()
        except FileExistsError:
            return
    # `; echo $?` marks the end, whoever started it; its own session, so that it can be ended
    proc = subprocess.Popen(
        ["sh", "-c", '"$@" > log.txt 2>&1; echo $? > rc.tmp && mv rc.tmp rc', "main-job",
         *CLI, "--out", "report", "--no-plots", "--quiet",
         "--impl", *registered_names()], cwd=d, start_new_session=True,
        env=dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(ROOT)))
    (d / "pid").write_text(str(proc.pid))
    _JOB["proc"] = proc


def stop_main_job() -> None:
    """End a main job still running when the session ends (not from an xdist worker: the
    controller ends it, after every worker is done with it)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    d = _JOB.get("dir")
    if d is None:  # the controller of an xdist session has not looked: the same directory
        if fresh_report() is not None:
            return
        d = _job_dir()
    try:
        pid = int((d / "pid").read_text())
    except (OSError, ValueError):
        return
    if not (d / "rc").exists():
        import signal
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 0)):
            try:
                os.killpg(pid, sig)
            except OSError:
                return
            end = time.time() + wait
            while time.time() < end and _alive(d / "pid"):
                time.sleep(0.1)


@dataclasses.dataclass
class MainJob:
    doc: dict            # results.json
    out: Path
    log: str             # its output, when this session ran it

    @property
    def returncode(self) -> int:
        return self.doc.get("exit_code", -1)

    def result(self, case: str, impl: str) -> TrainResult:
        d = self.doc["cases"][case][impl]
        return TrainResult(losses=np.array(d["losses"]),
                           gradients={k: np.array(v) for k, v in d["gradients"].items()},
                           final_params={k: np.array(v) for k, v in d["final_params"].items()},
                           final_outputs=np.array(d["final_outputs"]),
                           initial_outputs=np.array(d["initial_outputs"]))

    @functools.cached_property
    def oracles(self) -> dict:
        """{case: judge.Oracle} as the main job computed them (comparisons.report)."""
        import pickle

        from comparisons.report import ORACLES_FILE
        try:
            return pickle.loads((self.out / ORACLES_FILE).read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError):
            return {}

    def verdicts(self, case: str | None = None) -> list[dict]:
        return [v for v in self.doc["parity"] if case is None or v["case"] == case]


@functools.lru_cache(maxsize=None)
def main_job() -> MainJob:
    start_main_job()
    log = ""
    d = _JOB.get("dir")
    if d is not None:  # run by this session (by this process or another worker)
        end = time.time() + 900
        while not (d / "rc").exists():
            assert time.time() < end, "the main job did not finish in 900 s"
            assert (d / "pid").exists() or time.time() - d.stat().st_mtime < 30, (
                f"the main job in {d} was not started")
            time.sleep(0.2)
        log = (d / "log.txt").read_text(errors="replace")
    path = _JOB["report"] / "results.json"
    assert path.exists(), f"the main job wrote no results.json:\n{log[-3000:]}"
    return MainJob(json.loads(path.read_text()), _JOB["report"], log)


# --- Judging in this process -----------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def modules(name: str) -> dict:
    """The per-formula modules of a registered implementation, imported here."""
    impl = protocol.resolve(name)
    return {m: importlib.import_module(f"{impl.module}.{m}")
            for m in ("activations", "losses", "network", "training")}


@functools.lru_cache(maxsize=None)
def implementation(name: str):
    """A registered implementation's declaration and module (imported here)."""
    impl = protocol.resolve(name)
    return impl, impl.load()


@functools.lru_cache(maxsize=None)
def catalogue_oracle(name: str):
    """The oracle (plain float64 run, bounds, kappa) of a catalogue case: the main job's, else
    computed here once per session."""
    from comparisons import judge as judging
    return main_job().oracles.get(name) or judging.make_oracle(catalogue.get(name))


def registered_names(own: bool = False) -> list[str]:
    """The registered implementations (with own=True, the suite's own, not plugins)."""
    from comparisons import protocol
    return list(protocol.registered(own))


MIRRORED = ("activations", "losses", "network", "training")


def mirrors(impl) -> bool:
    """Whether an implementation package mirrors the reference's per-formula modules: all of
    them, or none (torch-nn trains with its framework's own layers and optimizers); some but
    not all is refused."""
    import importlib.util
    found = [m for m in MIRRORED if importlib.util.find_spec(f"{impl.module}.{m}") is not None]
    assert found in ([], list(MIRRORED)), f"{impl.name} mirrors {found} of {list(MIRRORED)}"
    return bool(found)


def here(names) -> list[str]:
    """The implementations among `names` that can be imported and run in this process (not
    those in an environment of their own, nor commands: the judge runs those in workers)."""
    from comparisons import protocol
    return [n for n in names if not protocol.resolve(n).elsewhere]


def judge(case, results: dict) -> list:
    """Verdicts of {impl: TrainResult} for `case`, with the declared expected failures."""
    from comparisons import judge as judging
    oracle = judging.make_oracle(case)
    runs = {n: judging.Run(n, "ok", r, 0.0) for n, r in results.items()}
    expected = {n: implementation(n)[0].expected_failure(case) for n in results}
    return judging.judge_case(oracle, runs, {n: x for n, x in expected.items() if x})


def assert_same_result(a: TrainResult, b: TrainResult, what: str = "") -> None:
    """Every tensor of two results equal, bit for bit (compared as float64: exact for float32)."""
    pairs = [("losses", a.losses, b.losses), ("final_outputs", a.final_outputs, b.final_outputs),
             ("initial_outputs", a.initial_outputs, b.initial_outputs)]
    pairs += [(f"gradients {k}", a.gradients[k], b.gradients[k]) for k in b.gradients]
    pairs += [(f"final {k}", a.final_params[k], b.final_params[k]) for k in b.final_params]
    for name, x, y in pairs:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        assert x.shape == y.shape and np.array_equal(x, y, equal_nan=True), f"{what}: {name} differs"


def assert_no_failure(verdicts, context: str = "") -> None:
    bad = [v for v in verdicts if v.failing]
    if bad:
        lines = "\n".join(f"{v.case} {v.dtype} {v.pair}: {v.status}: {v.message}\n"
                          + "\n".join("    " + r.line() for r in v.rows if not r.ok) for v in bad)
        raise AssertionError(f"{context}: parity failed\n{lines}")
