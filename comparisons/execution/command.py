"""An implementation that is a command, in any language: it reads a case file and writes a
results block (docs/FRAMEWORK-AUTHORS.md, "An implementation in any language").

Its package holds only the declaration, with "command": the argument list, in which
"{case}" and "{results}" stand for the two files; it runs in the package's directory. The
judge's worker for it loads this module (comparisons/execution/runner.py), which writes each
case as the case file's JSON with its batch order explicit (`train.batches`: no other language
has to reproduce NumPy's shuffles), runs the command with the worker's timeout, and reads the block
back with the checks of `verify`. The command is ended with its worker: it is killed when the
worker dies (PR_SET_PDEATHSIG), and on a timeout.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path

from comparisons.protocol import ENV_COMMAND, ENV_DIRECTORY, ENV_ENVIRONMENT
from comparisons.protocol.results import load_results

TIMEOUT = 600.0


def environment() -> dict:
    """The command and where it runs, and what its environment command prints, for the
    manifest."""
    out = {"command": " ".join(_argv()), "directory": os.environ.get(ENV_DIRECTORY, "")}
    argv = json.loads(os.environ.get(ENV_ENVIRONMENT, "[]"))
    if argv:
        proc = subprocess.run(argv, cwd=out["directory"] or None, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=60,
                              preexec_fn=_die_with_parent)
        if proc.returncode == 0:
            out.update(json.loads(proc.stdout))
    return out


def _argv() -> list[str]:
    argv = json.loads(os.environ.get(ENV_COMMAND, "[]"))
    if not argv:
        raise RuntimeError(f"{ENV_COMMAND} is not set: this worker runs a declared command")
    return argv


def _die_with_parent() -> None:  # in the child, before exec (Linux)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def train(case, **options):
    """Run the declared command on `case`; its results block as a TrainResult."""
    explicit = case.replace(batches=case.batch_order(), epochs=1, batch_size=None,
                            shuffle_seed=None)
    with tempfile.TemporaryDirectory(prefix="bp-command-") as d:
        case_file, results = Path(d) / "case.json", Path(d) / "results.json"
        case_file.write_text(json.dumps(explicit.to_dict()))
        argv = [a.replace("{case}", str(case_file)).replace("{results}", str(results))
                for a in _argv()]
        try:
            proc = subprocess.run(argv, cwd=os.environ.get(ENV_DIRECTORY) or None,
                                  capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=TIMEOUT, preexec_fn=_die_with_parent)
        except FileNotFoundError:
            raise ModuleNotFoundError(f"the command {argv[0]!r} is not installed") from None
        if proc.returncode != 0:  # the error's own line (a runtime's banner may follow it)
            lines = [x.strip() for x in proc.stderr.splitlines() if x.strip()]
            errors = [x for x in lines if re.match(r"^\w*(Error|Exception)\b", x)]
            tail = (errors or lines or [""])[-1][:300]
            raise RuntimeError(f"{' '.join(argv[:2])} exited {proc.returncode}: {tail}")
        if not results.exists():
            raise RuntimeError(f"{' '.join(argv[:2])} wrote no results block")
        return load_results(results, case)
