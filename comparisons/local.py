"""Local judging: every update of an implementation's own trajectory, one step at a time.

Global judging compares a whole run with the oracle's, within (1 + kappa) times each value's
rounding unit. At realistic width that stops early: from the first update the rounding bound
of an update is as large as the parameters (the horizon), or a relu decision lies within
reach of rounding (a flip), or kappa exceeds what a bound can judge. Chaos and kinks are
properties of the trajectory, not of the arithmetic of one step.

Local judging amplifies nothing. The implementation runs its case one update at a time
(`trajectory`, in its worker): update t starts from the parameters its own update t - 1
returned, P[t], exactly as they are (a float32 value is exact in float64), on batch t. Each
such one-update run is a case of its own, and the reference judges it like any case: every
value it returns (the gradients at P[t], A[L] at P[t], the loss before the update, the
parameters P[t+1] and A[L] after it) against the reference's one-update run from the same
P[t], at (u_a + u_b) gamma E with kappa = 0, and at the probabilistic level where it applies
(reference/noise.py). With exact inputs and one update nothing is carried from update to
update, so kappa = 0: every value's unit is its own a-priori bound. A relu decision within
one bound of its threshold is already a jump in that bound: both branches are allowed for that
element at that update, and judging continues (TOLERANCES.md, "Every update, one step").

Pairs of two implementations start from different P[t], so local judging is each
implementation against the oracle.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .parity import Amplification, Comparison, compare_results, skipped, TRAJECTORY

SUFFIX = " @ each update"  # a local row's name: the value's name, then this


def update_of(row: Comparison) -> int | None:
    """The update a local row names (None for any other row)."""
    if not row.name.endswith(SUFFIX):
        return None
    idx = row.worst_index or row.p_index
    if idx is not None:
        return int(idx[0])
    return int(row.note.split(":")[0].split()[-1]) if row.note.startswith("update ") else None


# The probabilistic level of one update: fewer responses than at step 0 (reference.noise.
# K_SAMPLES), since every update of every implementation needs its own.
K_LOCAL = 32


def one_update(case, params, t: int, batches):
    """The one-update case of update t from `params` (explicit, as NumPy arrays)."""
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    if batches is None:  # every update uses all of X
        return case.replace(params=params, epochs=1, batch_size=None, shuffle_seed=None,
                            batches=None)
    return case.replace(params=params, batches=[np.asarray(batches[t])], epochs=1,
                        batch_size=None, shuffle_seed=None)


def _batches(case):
    return None if case.full_batch else case.batch_order()


def trajectory(train, case, **options) -> list:
    """The implementation's run of `case`, one update at a time from its own parameters:
    one result per update (what `train` returns for that one-update case)."""
    from .workers import _as_result, result_from
    batches, params, out = _batches(case), case.params, []
    for t in range(case.updates):
        r = result_from(_as_result(train(one_update(case, params, t, batches), **options)))
        params = r.final_params
        out.append(r)
    return out


@dataclasses.dataclass
class _OneStep(Amplification):
    """kappa = 0 and no flip cut: one update from exact parameters (see the module doc)."""

    @property
    def flip_at(self):
        return None


# Where global judging judges the whole trajectory, local judging runs too when the run is this
# short: (1 + kappa) U is far wider than one update's bound, and a bug of one update's size
# (an lr off by 1e-11) hides in it (tests/test_mutations.py).
ALWAYS_UPDATES = 64


def always(case) -> bool:
    """Judged update by update whatever the oracle finds (see ALWAYS_UPDATES)."""
    return 0 < case.updates <= ALWAYS_UPDATES


def needed(oracle) -> str:
    """Why the trajectory of this case is judged update by update ('' when it is not): the
    horizon, a flip or kappa beyond KAPPA_MAX leave global judging short (as compare_results
    decides), or the run is short enough (ALWAYS_UPDATES) to judge both ways."""
    from reference.bounds import KAPPA_MAX
    amp, case = oracle.amp, oracle.case
    if amp.diverged_at is not None or case.updates == 0:
        return ""
    if always(case):
        return f"{case.updates} updates"
    if amp.bounds.get("horizon") is not None:
        return f"the horizon (update {amp.bounds['horizon']})"
    if amp.flip_at is not None and amp.flip_at + 1 < case.updates + 1:
        return f"a possible relu flip at update {amp.flip_at}"
    if not np.isfinite(amp.kappa) or amp.kappa > KAPPA_MAX[case.dtype]:
        return f"kappa = {amp.kappa:.3g}"
    return ""


def judge(case, results: list, dtype: str, name_prefix: str = "") -> list[Comparison]:
    """Every update of one implementation's trajectory (`results`, from `trajectory`) against
    the reference's one-update runs from the same parameters. One row per value: at the
    first update where it fails (where the failure starts), else at its worst update; the
    index is (update, element...)."""
    import reference
    from reference import bounds, noise

    from .judge import oracle_case
    batches, params = _batches(case), case.params
    worst: dict[str, tuple[int, Comparison]] = {}
    for t, r in enumerate(results):
        sub = oracle_case(one_update(case, params, t, batches))
        with np.errstate(all="ignore"):
            base = reference.train(sub)
            with bounds.context(dtype):
                traced = bounds.train(sub)
        E = dict(traced.bounds, horizon=None)
        E["probabilistic"] = noise.step_units(sub, dtype, K_LOCAL)
        amp = _OneStep(0.0, E, None)
        with np.errstate(all="ignore"):
            rows = compare_results(r, base, amp, dtype, "float64", sub)
        for row in rows:  # the first failing update (where it starts), else the worst
            prev = worst.get(row.name)
            failed = not row.ok and not row.skipped
            if prev is None or (failed and (prev[1].ok or prev[1].skipped)) or (
                    not failed and prev[1].ok and _decisive(row) > _decisive(prev[1])):
                worst[row.name] = (t, row)
        params = r.final_params
    n = len(results)
    out = []
    for label, (t, row) in worst.items():
        name = f"{name_prefix}{label}{SUFFIX}"
        if row.skipped:
            out.append(skipped(name, (n,) + tuple(row.shape), TRAJECTORY,
                               f"update {t}: {row.skipped}"))
            continue
        at = lambda idx: None if idx is None else (t,) + tuple(idx)  # noqa: E731
        out.append(dataclasses.replace(row, name=name, shape=(n,) + tuple(row.shape),
                                       kind=TRAJECTORY, worst_index=at(row.worst_index),
                                       p_index=at(row.p_index),
                                       note=f"update {t}: {row.note}" if row.note else ""))
    return out


@dataclasses.dataclass
class Judged:
    """An implementation's trajectory already judged update by update (`judge`'s rows),
    computed in a worker of its own (comparisons/runner.py)."""

    rows: list


def _decisive(row: Comparison) -> float:
    if row.note:
        return float("inf")
    p = row.p_ratio if row.p_ratio == row.p_ratio else 0.0
    return max(row.worst_ratio, p)
