"""Devices and float32 precision modes (docs/DEVICES.md).

`--device cpu|cuda` (`gpu` is an alias) places the autodiff implementations; the reference
always runs on the CPU, in the case's dtype. `--precision default|highest` is the float32
matrix-product mode on accelerators, which each implementation maps to its framework's own
switch for the run and restores after it (`precision(mode)` in its package):

- default: the framework's own setting, whatever it is. On NVIDIA GPUs since Ampere that may
  be TF32 (a 10-bit mantissa, u = 2^-11) for float32 products: JAX's default, PyTorch's when
  `torch.backends.cuda.matmul.allow_tf32` or `set_float32_matmul_precision("high")` allows it,
  TensorFlow's default (`enable_tensor_float_32_execution`). Judged against bounds built on
  float32's u = 2^-24, such a run fails by design, and the report says why.
- highest: full float32 products (`torch.set_float32_matmul_precision("highest")` with TF32
  off, `jax.default_matmul_precision("highest")`, TF32 execution off in TensorFlow).
On a CPU the two modes compute the same numbers: no CPU library here uses TF32.

Whether a CUDA device exists is decided here from the machine, without importing a framework
(`--device cuda` on a machine without one is bad input, before any work starts).
"""

from __future__ import annotations

import os
from pathlib import Path

DEVICES = ("cpu", "cuda")
ALIASES = {"gpu": "cuda"}
PRECISIONS = ("default", "highest")
DEFAULT_DEVICE, DEFAULT_PRECISION = "cpu", "default"
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")

TF32_NOTE = ("float32 on a GPU at the default precision: the framework may compute float32 "
             "matrix products in TF32 (10-bit mantissa, unit roundoff 2^-11 = 4.9e-4 instead "
             "of float32's 2^-24 = 6.0e-8), so its errors exceed bounds built on float32's "
             "rounding by design; `--precision highest` asks for full float32 products "
             "(docs/DEVICES.md; jax#12008, pytorch#67384)")


def normalise(device: str) -> str:
    return ALIASES.get(device, device)


def cuda_missing() -> str | None:
    """Why this machine offers no CUDA device to a framework, or None if it may."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every device"
    if not NVIDIA_DRIVER.exists():
        return f"no NVIDIA driver on this machine ({NVIDIA_DRIVER} is absent)"
    return None


def check(device: str, precision: str) -> tuple[str, str]:
    """(device, precision) normalised; ValueError naming the field, the value and what was
    expected."""
    d = normalise(device)
    if d not in DEVICES:
        raise ValueError(f"--device: {device!r} is not a device; expected one of "
                         f"{', '.join(DEVICES + tuple(ALIASES))}")
    if precision not in PRECISIONS:
        raise ValueError(f"--precision: {precision!r} is not a precision mode; expected one of "
                         f"{', '.join(PRECISIONS)}")
    if d == "cuda":
        why = cuda_missing()
        if why:
            raise ValueError(f"--device: {device!r}: {why}; expected cpu here")
    return d, precision


def train_options(device: str, precision: str) -> dict:
    """The options an implementation's train receives: none at the defaults, so that an
    implementation that knows neither runs on the CPU as it always did."""
    out = {}
    if device != DEFAULT_DEVICE:
        out["device"] = device
    if precision != DEFAULT_PRECISION:
        out["precision"] = precision
    return out


def driver() -> str | None:
    """The NVIDIA driver's version line, where there is one (the manifest records it)."""
    try:
        return NVIDIA_DRIVER.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return None


# --- Mixed precision: what each framework's own mechanism does (issue #32) ---------------------

# The operations these networks use, as docs/FRAMEWORKS.md's mixed-precision table lists them
AUTOCAST_OPS = ("linear", "matmul", "tanh", "sigmoid", "relu", "leaky_relu", "softmax",
                "log_softmax", "cross_entropy", "mse", "bce_with_logits", "sum")
AUTOCAST_MODES = ("bfloat16", "float16")


def autocast_class(as_f32: str, as_low: str, low: str) -> str:
    """What a mixed-precision policy does to one operation, from its result's dtype given
    float32 inputs and given inputs already in the low dtype: `low`, it casts the operation
    down; `f32`, it casts it up; `input`, it leaves it in its inputs' dtype (in a network, the
    dtype of whatever feeds it); otherwise both dtypes, as measured."""
    return {("float32", "float32"): "f32", (low, low): "low", ("float32", low): "input"}.get(
        (as_f32, as_low), f"{as_f32}/{as_low}")
