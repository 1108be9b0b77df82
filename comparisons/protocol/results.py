"""What an implementation returns: `TrainResult`, and the results block that carries it as JSON.

Every implementation's `train(case)` returns a TrainResult of NumPy arrays (or of its
framework's arrays: `as_arrays` converts them). The results block is its JSON form, the one
`run --json` writes, `verify` reads (`load_results`) and a command implementation in any
language writes: an object with losses, gradients, final_params, final_outputs and
initial_outputs, the arrays as nested lists, null for a non-finite value (a diverged run).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .case import CaseError, map_state, param_names, param_shape, slots_of

FIELDS = ("losses", "gradients", "final_params", "final_outputs", "initial_outputs")


def block(a) -> list | float:
    """An array as float64 lists of rows; non-finite values as None."""
    a = np.asarray(a, dtype=np.float64)
    if np.all(np.isfinite(a)):
        return a.tolist()
    return np.where(np.isfinite(a), a, None).tolist()


@dataclasses.dataclass
class TrainResult:
    """What every implementation returns from `train(case)`, as NumPy arrays of the case dtype.

    losses: (updates + 1,), the loss of each update's batch before that update, then the
        loss of the final parameters on the full data.
    gradients: name -> d loss / d param ("W1", "b1", ...) at the initial parameters on the
        first batch (the full data when there are no updates); the same for both schedules.
    final_params: name -> array; final_outputs: A[L] of the final parameters on the full X;
    initial_outputs: A[L] of the initial parameters on the full X.
    bounds: only from `comparisons.judge.bounds.train(case)`: the rounding unit of the same fields, in
        units of the unit roundoff (comparisons/judge/bounds.py); None otherwise.
    final_state: the optimizer's state after the last update, where the case has an
        optimizer or clipping (reference/optimizers.py: {"step": k, "M": {name: array}, ...});
        None otherwise.
    """

    losses: np.ndarray
    gradients: dict[str, np.ndarray]
    final_params: dict[str, np.ndarray]
    final_outputs: np.ndarray
    initial_outputs: np.ndarray
    bounds: dict | None = None
    final_state: dict | None = None

    def to_dict(self) -> dict:
        """The results block (`run --json`'s results.{implementation}, what `verify` reads):
        float64 lists of rows, each float exact (Python's repr round-trips), a non-finite
        value (a diverged run) as null."""
        out = {"losses": block(self.losses),
               "gradients": {k: block(v) for k, v in self.gradients.items()},
               "final_params": {k: block(v) for k, v in self.final_params.items()},
               "final_outputs": block(self.final_outputs),
               "initial_outputs": block(self.initial_outputs)}
        if self.final_state is not None:
            out["final_state"] = map_state(self.final_state, block)
        return out


def _array(where: str, value, shape: tuple, dtype: str) -> np.ndarray:
    try:
        a = np.array([np.nan if x is None else x for x in np.ravel(np.array(value, dtype=object))],
                     dtype=np.float64).reshape(np.shape(np.array(value, dtype=object)))
    except (TypeError, ValueError):
        raise CaseError(f"{where}: expected nested lists of numbers (null for a non-finite "
                        f"value), got {str(value)[:60]}") from None
    if a.shape != tuple(shape):
        raise CaseError(f"{where}: shape {a.shape}, but the case requires {tuple(shape)}")
    return a.astype(dtype)


def load_results(path, case, impl: str | None = None) -> TrainResult:
    """The results block in `path`, checked against the case's shapes, as a TrainResult in the
    case's dtype; CaseError (one line) on anything missing or malformed."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise CaseError(f"{path}: cannot read results ({getattr(e, 'strerror', None) or e})") from None
    except json.JSONDecodeError as e:
        raise CaseError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise CaseError(f"{path}: nested too deeply to parse") from None
    if isinstance(doc, dict) and "results" in doc and "losses" not in doc:  # a run --json document
        blocks = doc["results"]
        if impl is None:
            raise CaseError(f"{path}: a whole `run --json` document; name the block with --impl "
                            f"(one of {', '.join(blocks)})")
        if impl not in blocks:
            raise CaseError(f"--impl: {impl!r} is not in {path} (it has {', '.join(blocks)})")
        doc = blocks[impl]
    if not isinstance(doc, dict):
        raise CaseError(f"{path}: expected an object with {', '.join(FIELDS)}")
    for k in FIELDS:
        if k not in doc:
            raise CaseError(f"{path}: missing {k!r}; expected {', '.join(FIELDS)}")
    names = param_names(case.L)
    for group in ("gradients", "final_params"):
        if not isinstance(doc[group], dict):
            raise CaseError(f"{group}: expected an object of {', '.join(names)}")
        for k in names:
            if k not in doc[group]:
                raise CaseError(f"{group}.{k}: missing; the case has {', '.join(names)}")
    d = case.dtype
    out_shape = (case.layers[-1], case.m)
    state = doc.get("final_state")
    if state is not None:
        state = _state("final_state", state, case, d)
    return TrainResult(
        losses=_array("losses", doc["losses"], (case.updates + 1,), d),
        gradients={k: _array(f"gradients.{k}", doc["gradients"][k], param_shape(k, case.layers), d)
                   for k in names},
        final_params={k: _array(f"final_params.{k}", doc["final_params"][k],
                                param_shape(k, case.layers), d) for k in names},
        final_outputs=_array("final_outputs", doc["final_outputs"], out_shape, d),
        initial_outputs=_array("initial_outputs", doc["initial_outputs"], out_shape, d),
        final_state=state)


def _state(where: str, state, case, dtype: str) -> dict:
    """An optimizer's state from a results block: {"step": k, slot: {name: array}}, k the
    case's updates, the optimizer's slots (case.slots_of), each with an array per
    trainable parameter in its shape."""
    if not isinstance(state, dict) or not isinstance(state.get("step"), int) or isinstance(
            state.get("step"), bool):
        raise CaseError(f"{where}: expected an object with an integer step and each slot's "
                        f"arrays, got {str(state)[:60]}")
    first = 0 if case.initial_state is None else case.initial_state["step"]
    if state["step"] != first + case.updates:
        raise CaseError(f"{where}.step: {state['step']}, but the case makes {case.updates} "
                        f"updates from step {first}")
    slots = slots_of(case.optimizer)
    if set(state) - {"step"} != set(slots):
        raise CaseError(f"{where}: slots {sorted(set(state) - {'step'})}, but the case's "
                        f"optimizer keeps {list(slots) or 'none'}")
    out = {"step": state["step"]}
    for slot in slots:
        arrays = state[slot]
        if not isinstance(arrays, dict) or set(arrays) != set(case.trainable_names):
            raise CaseError(f"{where}.{slot}: expected an array for each trainable parameter "
                            f"({', '.join(case.trainable_names)})")
        out[slot] = {k: _array(f"{where}.{slot}.{k}", v, param_shape(k, case.layers), dtype)
                     for k, v in arrays.items()}
    return out


def as_arrays(r) -> dict:
    """The fields of a TrainResult-like object as NumPy arrays (picklable, framework-free)."""
    to = lambda x: np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)  # noqa: E731
    out = {}
    for field in ("losses", "final_outputs", "initial_outputs", "gradients", "final_params"):
        if not hasattr(r, field):
            raise TypeError(f"train returned {type(r).__name__}, which has no {field!r}; "
                            "expected a reference.case.TrainResult")
        v = getattr(r, field)
        out[field] = {k: to(x) for k, x in v.items()} if isinstance(v, dict) else to(v)
    state = getattr(r, "final_state", None)
    if state is not None:
        out["final_state"] = map_state(state, to)
    return out


def result_from(payload: dict) -> TrainResult:
    """A TrainResult from `as_arrays`' fields."""
    return TrainResult(**payload)
