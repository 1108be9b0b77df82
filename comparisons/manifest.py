"""The environment manifest: what produced a set of numbers, so that they can be cited.

Each implementation's entry is the `environment()` it reported from the process that ran it
(its worker), so that a setting such as JAX's x64 mode is recorded where it took effect.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version() -> str:
    try:
        from importlib.metadata import version as v
        return v("backprop-parity")
    except Exception:  # not installed: a source checkout on sys.path
        return "unknown"


def git_commit() -> str | None:
    """The commit of the checkout this package is imported from (with '+dirty' when it has
    uncommitted changes), or None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def manifest(environments: dict | None = None, **extra) -> dict:
    """Versions, commit, platform, CPU, thread settings and, per implementation, what its own
    process reported, as a JSON-ready dict."""
    m = {
        "backprop_parity": version(),
        "commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads_env": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "implementations": dict(environments or {}),
    }
    m.update(extra)
    return m
