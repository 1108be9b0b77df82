"""The environment manifest: what produced a set of numbers, so that they can be cited."""

from __future__ import annotations

import os
import platform
import sys


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> dict:
    import numpy as np
    try:
        cfg = np.show_config(mode="dicts")
        deps = cfg.get("Build Dependencies", {})
        return {k: {f: v.get(f) for f in ("name", "version") if f in v}
                for k, v in deps.items() if k in ("blas", "lapack")}
    except Exception:  # older NumPy: no dict mode
        return {}


def manifest(dtype: str | None = None) -> dict:
    """Versions, BLAS, CPU, thread counts and JAX's x64 state, as a JSON-ready dict."""
    import numpy as np
    m = {
        "backprop_parity": _version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "numpy_blas": _blas(),
        "threads_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                    "MKL_NUM_THREADS", "XLA_FLAGS")
                        if k in os.environ},
    }
    try:
        import torch
        m["torch"] = torch.__version__
        m["torch_threads"] = torch.get_num_threads()
        m["torch_blas"] = getattr(torch.backends, "mkl", None) and (
            "mkl" if torch.backends.mkl.is_available() else "other")
    except ImportError:
        m["torch"] = None
    try:
        import jax
        import jaxlib
        m["jax"] = jax.__version__
        m["jaxlib"] = jaxlib.__version__
        m["jax_enable_x64"] = bool(jax.config.jax_enable_x64)
        m["jax_devices"] = [str(d) for d in jax.devices()]
    except ImportError:
        m["jax"] = None
    if dtype is not None:
        m["dtype"] = dtype
    return m


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("backprop-parity")
    except Exception:
        return "unknown"
