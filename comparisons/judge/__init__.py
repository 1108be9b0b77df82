"""The judge: pure functions from (case, results) to verdicts; no processes, files or printing.

    tracing    the tracing shell: a duck array whose NumPy operations are rules, for both levels
    bounds     the worst-case level: every value's a-priori rounding bound (Traced)
    noise      the probabilistic level: the linear response to random rounding (Noisy)
    parity     one comparer for every pair: each element against its own bound; kappa
    oracle     the oracle of a case: the float64 reference, its bounds and kappa
    local      every update of a trajectory judged one step at a time
    verdict    each pair's status, from its rows
    formulas   the seeds' formulas in the order the computation runs, as the tools name them
    mp_oracle  an independent 40-digit oracle (mpmath), for the tests
The verdict's names are also this package's (`judge.judge_case`, `judge.PASS`, ...).
"""

from .oracle import ORACLE_NAME, Oracle, make_oracle, oracle_case, oracle_label
from .verdict import (ERROR, FAIL, FAILING, PASS, SKIPPED, XFAIL, XPASS, PairVerdict, Run,
                      judge_case, summary)

__all__ = ["ERROR", "FAIL", "FAILING", "ORACLE_NAME", "Oracle", "PASS", "PairVerdict", "Run",
           "SKIPPED", "XFAIL", "XPASS", "judge_case", "make_oracle", "oracle_case",
           "oracle_label", "summary"]
