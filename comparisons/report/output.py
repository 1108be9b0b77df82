"""Where results go: JSON as every command writes it, and output directories that are
written whole or not at all. Below every module that writes (report, conform, export, the
CLI), so that none of them imports another for a helper.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np


def finite(o):
    """JSON has no NaN or infinity: non-finite values (a diverged run) become null."""
    if isinstance(o, float):
        return o if o == o and abs(o) != float("inf") else None
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    return o


def json_default(o):
    """NumPy scalars and arrays as plain JSON values (arrays with non-finite values as null)."""
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return finite(o.tolist())
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o).__name__)


def dumps(o, **kwargs) -> str:
    """json.dumps with non-finite floats as null and NumPy values as plain ones; Python's
    float repr round-trips exactly."""
    return json.dumps(finite(o), default=json_default, **kwargs)


def check_writable(out: Path) -> bool:
    """Raise OSError (with the reason) unless `out` is, or can be made, a writable directory;
    return whether this call created it. Called before any work, so that a bad --out costs
    nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OSError(f"{out} exists and is not a directory")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".backprop-parity-write-test"
    probe.write_text("")
    probe.unlink()
    return created


@contextlib.contextmanager
def staged(out: Path, created: bool = False):
    """Yield a staging directory inside `out`; what is written there replaces the entries of
    the same name in `out` when the block ends normally. On an error, a Ctrl-C or SIGTERM the
    staging directory is removed, and `out` too when this run created it (`created`) and it
    is empty: an interrupted command leaves no half-written report, and an earlier report in
    `out` stays whole."""
    out = Path(out)
    stage = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=out))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty: never anything this run did not write
        raise
    for entry in sorted(stage.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
    stage.rmdir()


class PipeSafeStdout:
    """stdout that survives a closed pipe (`... | head`): the rest of the output is dropped,
    the work (a report being written) goes on, and no traceback is printed."""

    def __init__(self, stream):
        self.stream, self.broken = stream, False

    def write(self, text):
        if not self.broken:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._close()
        return len(text)

    def flush(self):
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._close()

    def _close(self):
        self.broken = True
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)
