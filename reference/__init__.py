"""The NumPy reference: the seeds' forward and backward passes, every derivative by hand.

Modules (mirrored by torch_impl and jax_impl, which differentiate automatically):
activations, losses, network, training. `reference.case` is the framework-neutral case
description shared by all implementations; `reference.bounds` computes the a-priori rounding
bound of every value the reference computes (the judge's tolerances).

It is the oracle of the comparisons package and an implementation like the others
(comparisons/protocol.py): its float32 runs are judged against its float64 ones.
"""

from .case import Case, CaseError, TrainResult, batch_order, case_from_dict, load_case
from .training import train

IMPLEMENTATION = {
    "name": "reference",
    "description": "NumPy, every derivative written by hand (the oracle)",
}


def environment() -> dict:
    """NumPy's version and BLAS, for the manifest."""
    import numpy as np
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = {k: {f: v.get(f) for f in ("name", "version") if f in v}
                for k, v in deps.items() if k in ("blas", "lapack")}
    except Exception:  # older NumPy: no dict mode
        blas = {}
    return {"numpy": np.__version__, "blas": blas}


__all__ = ["Case", "CaseError", "IMPLEMENTATION", "TrainResult", "batch_order",
           "case_from_dict", "environment", "load_case", "train"]
