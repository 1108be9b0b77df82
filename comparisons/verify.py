"""`verify`: judge one implementation's results, from any language, against the reference.

The results file is one implementation's block as `run --json` writes it: an object with
losses, gradients, final_params, final_outputs and initial_outputs, the arrays as nested
lists (null for a non-finite value). The reference runs the case, measures kappa and the
bounds itself, and judges the block with the same comparer as the main job.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reference.case import CaseError, TrainResult, param_names, param_shape

FIELDS = ("losses", "gradients", "final_params", "final_outputs", "initial_outputs")


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
    return TrainResult(
        losses=_array("losses", doc["losses"], (case.updates + 1,), d),
        gradients={k: _array(f"gradients.{k}", doc["gradients"][k], param_shape(k, case.layers), d)
                   for k in names},
        final_params={k: _array(f"final_params.{k}", doc["final_params"][k],
                                param_shape(k, case.layers), d) for k in names},
        final_outputs=_array("final_outputs", doc["final_outputs"], out_shape, d),
        initial_outputs=_array("initial_outputs", doc["initial_outputs"], out_shape, d))
