"""A run in parts: updates start..stop-1 of a case as a case of their own.

Local judging (comparisons/judge/local.py) judges a trajectory one update at a time, and a long
trajectory travels from the implementation's worker to the judge in chunks. Each is an
ordinary case, from the parameters before its first update, on its batches: no implementation
needs to know it runs a part, so the protocol, plugins and command implementations are
unchanged.
"""

from __future__ import annotations

import numpy as np

from .case import map_state
from .cost import case_cost


def part(case, params, start: int, stop: int, batches=None, state=None):
    """Updates start..stop-1 of `case` as a case of their own, from `params` (the
    parameters before update `start`) and, for an optimizer or a schedule, `state` (the
    optimizer's state before it: its step count, the schedule's position, and its moments or
    velocities; reference/optimizers.py). `batches`: the case's batch order (`batches_of`),
    computed once for every part of a run."""
    if start > 0 and not case.plain and state is None:
        raise ValueError(f"{case.name}: a part from update {start} of a run with an optimizer "
                         "or a schedule needs the optimizer's state before it")
    if start == 0 and state is None:  # the state the case itself resumes from, if any
        state = case.initial_state
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    if state is not None:
        state = map_state(state, lambda a: np.asarray(a, dtype=np.float64))
    if case.full_batch:  # every update uses all of X
        return case.replace(params=params, epochs=stop - start, batch_size=None,
                            shuffle_seed=None, batches=None, initial_state=state)
    batches = case.batch_order() if batches is None else batches
    return case.replace(params=params, batches=[np.asarray(b) for b in batches[start:stop]],
                        epochs=1, batch_size=None, shuffle_seed=None, initial_state=state)


def one_update(case, params, t: int, batches, state=None):
    """The one-update case of update t from `params` (explicit, as NumPy arrays) and `state`
    (see `part`)."""
    return part(case, params, t, t + 1, batches, state)


def state_after(case, result, t: int):
    """The optimizer's state after update t of `case` (0-based, counted within the case), as
    the run of that update returned it (`result.final_state`): what the part from update t + 1
    starts from. For a schedule without an optimizer, only the step count, which the run need
    not return; None for plain SGD. ValueError where an optimizer's run returned no state."""
    if case.plain:
        return None
    if case.stateful:
        state = getattr(result, "final_state", None)
        if not isinstance(state, dict):
            raise ValueError(f"{case.name}: update {t} returned no optimizer state "
                             "(final_state), which the next update starts from")
        return state
    first = 0 if case.initial_state is None else case.initial_state["step"]
    return {"step": first + t + 1}


def batches_of(case):
    """The batch order `part` needs (None when every update uses all of X)."""
    return None if case.full_batch else case.batch_order()


def chunk_updates(case) -> int:
    """Updates per chunk of a trajectory on its way from the implementation's worker to the
    judge (protocol.cost.TRAJECTORY_CHUNK_BYTES: no process holds a long run's trajectory;
    [784, 1024, 1024, 10] returns 30 MB an update)."""
    return case_cost(case).chunk_updates()
