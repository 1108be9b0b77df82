"""Shared test helpers: independent oracles (central finite differences) and cases."""

import numpy as np

from comparisons import catalogue

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


# --- Results shared by the parity tests: each (case, implementation, dtype) trains once. ---

import functools  # noqa: E402

import jax_impl  # noqa: E402
import reference  # noqa: E402
import torch_impl  # noqa: E402
from comparisons.parity import (RTOL, amplification, assert_all_close,  # noqa: E402
                                compare_results)

IMPLS = {"numpy": reference, "torch": torch_impl, "jax": jax_impl}
from comparisons.runner import PAIRS  # noqa: E402, F401  (re-exported to the tests)
FLOAT32_MAX_UPDATES = 1000


def truncated(case, max_updates):
    """The case with only its first `max_updates` updates (same batches, same order)."""
    batches = case.batch_order()
    if len(batches) <= max_updates:
        return case
    return case.replace(batches=batches[:max_updates], epochs=None)


# torch eager needs ~17 s for these cases' 10,000-20,000 updates; a spawned worker computes
# them on the second core while the rest of the suite runs (as the main job does).
LONG_TORCH = ["seed003-xor", "seed003-and", "mazur-sequential", "mazur-simultaneous",
              "xor-2-2-1"]
_background = {}


def start_background_torch():
    import concurrent.futures
    import multiprocessing

    from comparisons.runner import _train_one
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    _background["pool"] = pool
    for name in LONG_TORCH:
        _background[name] = pool.submit(_train_one, "torch", catalogue.get(name))


def stop_background_torch():
    if "pool" in _background:
        _background.pop("pool").shutdown(cancel_futures=True)


@functools.lru_cache(maxsize=None)
def result(name, impl, dtype="float64"):
    if impl == "torch" and dtype == "float64" and name in _background:
        return _background[name].result()[0]
    case = catalogue.get(name).replace(dtype=dtype)
    if dtype == "float32":
        case = truncated(case, FLOAT32_MAX_UPDATES)
    return IMPLS[impl].train(case)


@functools.lru_cache(maxsize=None)
def reference64_for_float32(name):
    """The float64 reference on the same (truncated) schedule as the float32 runs."""
    return reference.train(truncated(catalogue.get(name), FLOAT32_MAX_UPDATES))


@functools.lru_cache(maxsize=None)
def kappa_of(name, max_updates=None):
    """The case's measured amplification (on its first max_updates updates if given)."""
    if max_updates:
        return amplification(truncated(catalogue.get(name), max_updates),
                             reference_result=reference64_for_float32(name))
    return amplification(catalogue.get(name), reference_result=result(name, "numpy"))


def assert_parity(a, b, dtype, context, kappa=1.0):
    assert_all_close(compare_results(a, b, RTOL[dtype], kappa=kappa), context)
