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
(noise.py). With exact inputs and one update nothing is carried from update to
update, so kappa = 0: every value's unit is its own a-priori bound. A relu decision within
one bound of its threshold is already a jump in that bound: both branches are allowed for that
element at that update, and judging continues (TOLERANCES.md, "Every update, one step").

Pairs of two implementations start from different P[t], so local judging is each
implementation against the oracle.

A long trajectory travels in parts (comparisons/protocol/parts.py: updates start..stop-1 as a
case of their own, from the parameters before `start`): the implementation's worker runs one
part (comparisons/execution/workers.py, `trajectory`) while a local worker judges the one
before (`Judging` carries each value's row from part to part), so that no process holds a
whole trajectory. The probabilistic level judges every update (K_LOCAL responses each); a
user who wants less asks for a sample of updates (`Judging.sample`), and the updates it does
not reach are listed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import reference
from comparisons.protocol.cost import K_STEP
from comparisons.protocol.parts import batches_of, one_update, state_after

from . import bounds, noise
from .bounds import KAPPA_MAX
from .oracle import oracle_case
from .parity import (TRAJECTORY, Amplification, Comparison, beyond_reach, compare_results, edge,
                     skipped)

# The kind of the row that lists the updates the probabilistic level does not judge
LEVEL2 = "probabilistic level"

SUFFIX = " @ each update"  # a local row's name: the value's name, then this


def update_of(row: Comparison) -> int | None:
    """The update a local row names (None for any other row)."""
    if not row.name.endswith(SUFFIX):
        return None
    idx = row.worst_index or row.p_index
    if idx is not None:
        return int(idx[0])
    return int(row.note.split(":")[0].split()[-1]) if row.note.startswith("update ") else None


# The probabilistic level of one update: fewer responses than at step 0 (protocol.cost.
# K_SAMPLES), since every update of every implementation needs its own (TOLERANCES.md,
# "Every update, one step": its cost and its sensitivity).
K_LOCAL = K_STEP


def level2_updates(case, sample: int | None = None) -> list[int]:
    """The updates of `case` judged at the probabilistic level: every one, or with `sample`
    (a user's choice, >= 2) that many spread evenly from the first to the last."""
    n = case.updates
    if sample is None or sample >= n:
        return list(range(n))
    return sorted({round(i * (n - 1) / (sample - 1)) for i in range(sample)})


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


def edge_of(oracle) -> int | None:
    """In a run that diverges, the first update local judging does not reach: where the
    oracle's values come within reach of the float range's edge (parity.edge), or where its
    loss is no longer finite, whichever comes first; None for a run that stays finite."""
    amp, case = oracle.amp, oracle.case
    if amp.diverged_at is None:
        return None
    h = edge(amp.bounds["losses"], case, case.dtype, oracle.base.losses, amp.bounds.get("reach"))
    return amp.diverged_at if h is None else min(h, amp.diverged_at)


def judged_updates(oracle) -> int:
    """How many updates local judging judges: all, or those before the edge."""
    stop = edge_of(oracle)
    return oracle.case.updates if stop is None else min(stop, oracle.case.updates)


def past_the_edge(oracle) -> str:
    """Why the updates from `judged_updates` on are not judged one step at a time ('' when
    every update is)."""
    stop = edge_of(oracle)
    if stop is None or stop >= oracle.case.updates:
        return ""
    return (f"from update {stop} the values reach the edge of the float range (the run "
            f"diverges at update {oracle.amp.diverged_at}), where whether a sum overflows "
            "depends on the order of its terms")


def needed(oracle) -> str:
    """Why the trajectory of this case is judged update by update ('' when it is not): the
    horizon, a flip or kappa beyond KAPPA_MAX leave global judging short (as compare_results
    decides), a diverging run is judged up to its edge, the run is short enough
    (ALWAYS_UPDATES) to judge both ways, or it trains with an optimizer, a schedule, decay or
    clipping, whose global bound adds every update's (TOLERANCES.md, "Optimizers")."""
    amp, case = oracle.amp, oracle.case
    if case.updates == 0:
        return ""
    if amp.diverged_at is not None:
        stop = judged_updates(oracle)
        return f"a diverging run, judged up to its edge (update {stop})" if stop else ""
    if always(case):
        return f"{case.updates} updates"
    if not case.plain:  # its global floor adds every update's bound (bounds._train_beyond_sgd)
        return "an optimizer's, a schedule's, decay's or clipping's updates"
    if amp.bounds.get("horizon") is not None:
        return f"the horizon (update {amp.bounds['horizon']})"
    if amp.flip_at is not None and amp.flip_at + 1 < case.updates + 1:
        return f"a possible relu flip at update {amp.flip_at}"
    if not np.isfinite(amp.kappa) or amp.kappa > KAPPA_MAX[case.dtype]:
        return f"kappa = {amp.kappa:.3g}"
    return ""


def judge(case, results: list, dtype: str, name_prefix: str = "",
          sample: int | None = None) -> list[Comparison]:
    """Every update of one implementation's trajectory (`results`, one per update: what the
    implementation's worker returns for a trajectory, comparisons/execution/workers.py) against
    the reference's one-update runs from the same parameters. One row per value: at the
    first update where it fails (where the failure starts), else at its worst update; the
    index is (update, element...)."""
    return Judging(case, dtype, sample=sample).add(case.params, results).rows(name_prefix)


@dataclasses.dataclass
class Judging:
    """The local judging of one trajectory, fed chunk by chunk (`add`), in order: for each
    value, the row of its first failing update, else of its worst, so far."""

    case: object
    dtype: str
    t: int = 0                                     # the next update to judge
    worst: dict = dataclasses.field(default_factory=dict)
    past_edge: str = ""                            # why updates from t on are not judged
    sample: int | None = None                      # updates at the probabilistic level
    state: dict | None = None                      # the optimizer's state before update t
    stopped: bool = False                          # update t is past the edge (past_edge)

    def __post_init__(self):
        if self.t == 0 and self.state is None:
            self.state = self.case.initial_state

    def add(self, params, results: list) -> "Judging":
        """Judge the next len(results) updates; `params`: the parameters before the first of
        them (the implementation's own, as it returned them). An optimizer's state goes from
        update to update here, as each update's run returned it (`parts.state_after`)."""
        case, dtype = self.case, self.dtype
        batches = batches_of(case)
        level2 = set(level2_updates(case, self.sample))
        for r in results:
            if self.stopped:
                break
            t = self.t
            sub = oracle_case(one_update(case, params, t, batches, self.state))
            with np.errstate(all="ignore"):
                base = reference.train(sub)
                with bounds.context(dtype):
                    traced = bounds.train(sub)
            at_p = max(traced.bounds["initial_reach"], traced.bounds["reach"][0])
            if beyond_reach(at_p, case, dtype):  # this update's values at P[t] (A[L] on all
                # of X, the batch's sums) reach the float range: it and what follows are past
                self.past_edge = (f"from update {t} the values reach the edge of the float "
                                  "range (a hidden layer's or a gradient's sums at the "
                                  "parameters the run reached), where whether a sum overflows "
                                  "depends on the order of its terms")
                self.stopped = True
                break
            E = dict(traced.bounds, horizon=None)
            if t in level2:
                E["probabilistic"] = noise.step_units(sub, dtype, K_LOCAL,
                                                      noise.judged_elements(case))
            amp = _OneStep(0.0, E, None)
            with np.errstate(all="ignore"):
                rows = compare_results(r, base, amp, dtype, "float64", sub)
            for row in rows:  # the first failing update (where it starts), else the worst
                prev = self.worst.get(row.name)
                failed = not row.ok and not row.skipped
                if prev is None or (failed and (prev[1].ok or prev[1].skipped)) or (
                        not failed and prev[1].ok and _decisive(row) > _decisive(prev[1])):
                    self.worst[row.name] = (t, row)
            params = r.final_params
            try:
                self.state = state_after(case, r, t)
            except ValueError:  # its row says so; the next update starts from the oracle's
                self.state = base.final_state
            self.t += 1
        return self

    def rows(self, name_prefix: str = "") -> list[Comparison]:
        n = self.t
        out = []
        for label, (t, row) in self.worst.items():
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
        level2 = [t for t in level2_updates(self.case, self.sample) if t < n]
        if n and len(level2) < n:  # listed, never counted as judged
            out.append(skipped(f"{name_prefix}probabilistic level{SUFFIX}", (n - len(level2),),
                               LEVEL2, f"{n - len(level2)} of {n} updates judged at the "
                               f"worst-case level only; the probabilistic level judges updates "
                               f"{', '.join(map(str, level2))} (a sample asked for: "
                               "--probabilistic-updates)"))
        rest = self.case.updates - n
        if self.past_edge and rest > 0:  # listed, never counted as judged
            out.append(skipped(f"{name_prefix}updates past the edge{SUFFIX}", (rest,),
                               TRAJECTORY, f"updates {n} to {self.case.updates - 1} are not "
                               f"judged one step at a time: {self.past_edge}"))
        return out


def judge_chunk(state: Judging, params, results: list) -> Judging:
    """A local worker's entry (comparisons/execution/runner.py): `state` with the next chunk
    judged."""
    return state.add(params, results)


@dataclasses.dataclass
class Judged:
    """An implementation's trajectory already judged update by update (`judge`'s rows),
    computed in a worker of its own (comparisons/execution/runner.py)."""

    rows: list


def _decisive(row: Comparison) -> float:
    if row.note:
        return float("inf")
    p = row.p_ratio if row.p_ratio == row.p_ratio else 0.0
    return max(row.worst_ratio, p)
