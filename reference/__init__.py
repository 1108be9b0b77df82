"""The NumPy reference: the seeds' forward and backward passes, every derivative by hand.

Modules (mirrored by torch_impl and jax_impl, which differentiate automatically):
activations, losses, network, training. `reference.case` is the framework-neutral case
description shared by all three.
"""

from .case import Case, CaseError, TrainResult, batch_order, case_from_dict, load_case
from .training import train

__all__ = ["Case", "CaseError", "TrainResult", "batch_order", "case_from_dict", "load_case",
           "train"]
