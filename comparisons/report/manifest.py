"""The environment manifest: what produced a set of numbers, so that they can be cited.

Each implementation's entry is the `environment()` it reported from the process that ran it
(its worker), so that a setting such as JAX's x64 mode is recorded where it took effect.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path

from comparisons.protocol import devices

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
# Variables that choose which CPU kernels run, and so how sums are ordered and rounded:
# a report's framework-measured figures depend on them (figures.py).
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ATEN_CPU_CAPABILITY",
                    "ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")
# CPU features that decide the widest vector kernels a library may pick, widest last.
ISA_FLAGS = ("sse4_2", "avx", "fma", "avx2", "avx512f")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _isa() -> list[str]:
    """The ISA_FLAGS this CPU has (from /proc/cpuinfo; [] where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [x for x in ISA_FLAGS if x in have]
    except OSError:
        pass
    return []


def version() -> str:
    try:
        return importlib.metadata.version("backprop-parity")
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


def _package_files(module: str) -> list[tuple[str, Path]]:
    """(name, path) of the source files (.py, .json, .toml) of the package holding `module`."""
    spec = importlib.util.find_spec(module.split(".")[0])
    if spec is None or spec.origin is None:
        return []
    origin = Path(spec.origin)
    if origin.name != "__init__.py":
        return [(origin.name, origin)]
    top = origin.parent.parent
    return sorted((str(p.relative_to(top)), p) for p in origin.parent.rglob("*")
                  if p.suffix in (".py", ".json", ".toml") and "__pycache__" not in p.parts)


def digest(impls: dict) -> str:
    """A SHA-256 of what decides a report's numbers: the source of the judge, of the
    reference and of every implementation in `impls` ({name: Implementation}), and the
    versions of Python, NumPy and of the distributions that provide each implementation's
    required modules. Two reports with the same digest were computed from the same code."""
    h = hashlib.sha256()
    dists = importlib.metadata.packages_distributions()
    modules = {"comparisons", "reference"} | {i.module for i in impls.values()}
    versions = {"python": sys.version, "numpy": importlib.metadata.version("numpy")}
    for name in sorted(impls):
        for mod in impls[name].requires:
            for d in dists.get(mod.split(".")[0], []):
                versions[d] = importlib.metadata.version(d)
    h.update(repr(sorted(versions.items())).encode())
    files = dict(f for mod in modules for f in _package_files(mod))
    for name in sorted(files):
        h.update(f"{name}\0".encode() + files[name].read_bytes() + b"\0")
    return h.hexdigest()


def manifest(environments: dict | None = None, options: dict | None = None, **extra) -> dict:
    """Versions, commit, date, platform, CPU and its vector ISA, thread and kernel settings, the run's device and precision mode
    (`options`, as the implementations received them) and, per implementation, what its own
    process reported (its device, versions and effective precision settings), as a
    JSON-ready dict."""
    options = options or {}
    m = {
        "backprop_parity": version(),
        "commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_isa": _isa(),
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "threads_env": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "kernels_env": {k: os.environ[k] for k in KERNEL_VARIABLES if k in os.environ},
        "device": options.get("device", devices.DEFAULT_DEVICE),
        "precision": options.get("precision", devices.DEFAULT_PRECISION),
        "nvidia_driver": devices.driver(),
        "implementations": dict(environments or {}),
    }
    m.update(extra)
    return m
