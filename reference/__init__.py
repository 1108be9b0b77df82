"""The NumPy reference: the seeds' forward and backward passes, every derivative by hand.

Modules (mirrored by torch_impl and jax_impl, which differentiate automatically):
activations, losses, network, training: the seeds' formulas and nothing else. The case and
the result they compute live in the protocol every implementation shares
(comparisons/protocol/; `reference.case` is their old import path); the judge's rounding
bounds of these very formulas live in comparisons/judge/.

It is the oracle of the comparisons package and an implementation like the others
(comparisons/protocol/registry.py): its float32 runs are judged against its float64 ones.
"""

import numpy as np

from comparisons.protocol import (Case, CaseError, TrainResult, batch_order, case_from_dict,
                                  load_case)

from .training import train

IMPLEMENTATION = {
    "name": "reference",
    "description": "NumPy, every derivative written by hand (the oracle)",
    "training": ["*"],  # every optimizer, convention, schedule and clipping (optimizers.py)
    "reduced_precision": ["*"],  # every policy (precision.py)
}


def environment() -> dict:
    """NumPy's version and BLAS, for the manifest."""
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = {k: {f: v.get(f) for f in ("name", "version") if f in v}
                for k, v in deps.items() if k in ("blas", "lapack")}
    except Exception:  # older NumPy: no dict mode
        blas = {}
    return {"numpy": np.__version__, "blas": blas}


__all__ = ["Case", "CaseError", "IMPLEMENTATION", "TrainResult", "batch_order",
           "case_from_dict", "environment", "load_case", "train"]
