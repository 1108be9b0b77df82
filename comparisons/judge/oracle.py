"""The oracle of a case: the float64 reference's run, its bounds and its amplification kappa.

For a float32 case the reference runs on the case's inputs rounded to float32, which is exactly
what every float32 implementation computes on, so the comparison measures the float32
arithmetic (TOLERANCES.md).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import reference
from comparisons.protocol import ORACLE

from . import noise
from .parity import Amplification, amplification

ORACLE_NAME = ORACLE


def oracle_label(dtype: str) -> str:
    """How the oracle is named in a pair: the reference itself in float64; in a float32 case
    the reference's own float32 run is an implementation, so the oracle is named apart."""
    return ORACLE_NAME if dtype == "float64" else "reference-float64"


@dataclasses.dataclass
class Oracle:
    """The float64 reference's run of a case, its bounds and its amplification kappa."""

    case: object
    base: object          # TrainResult of the float64 reference
    amp: Amplification
    seconds: float        # the reference's plain run
    kappa_seconds: float  # the traced, perturbed run that measures kappa

    @property
    def kappa(self) -> float:
        return self.amp.kappa


def oracle_case(case):
    """The float64 case whose reference run judges `case` (see the module docstring)."""
    return case if case.dtype == "float64" else case.rounded(case.dtype).replace(dtype="float64")


def make_oracle(case) -> Oracle:
    """The oracle of `case` (the entry of the oracles' worker, comparisons/execution/runner.py)."""
    oc = oracle_case(case)
    t = time.perf_counter()
    with np.errstate(all="ignore"):
        base = reference.train(oc)
    t1 = time.perf_counter()
    amp = amplification(oc, base, compare_dtype=case.dtype)
    amp.bounds["probabilistic"] = noise.initial_units(oc, case.dtype)
    return Oracle(case, base, amp, t1 - t, time.perf_counter() - t1)
