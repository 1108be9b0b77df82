"""Golden vectors: every case's exact numbers and bounds, for implementations in any language.

Format `backprop-parity-golden/2`, one JSON file per case plus `index.json`, described in
GOLDEN.md (also written into the export directory). A tensor is {"shape", "values", "hex"}:
values row-major as JSON numbers in the shortest form that round-trips (Python's repr), and
the same as C99 hex floats; a tensor the judge compares also has "bound" and "bound_hex", the
largest difference per element that `verify` accepts from an implementation of that dtype.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import reference
from comparisons import catalogue
from comparisons.execution.runner import EXIT_OK
from comparisons.judge.oracle import make_oracle
from comparisons.judge.parity import compare_results, pair_bounds
from comparisons.report.manifest import manifest
from comparisons.report.output import finite, staged
from reference import network, training

from . import common

FORMAT = "backprop-parity-golden/2"
DOC = Path(__file__).resolve().parent.parent / "GOLDEN.md"
HELP = "golden vectors (comparisons/GOLDEN.md) for every catalogue case"


def add_arguments(p) -> None:
    p.add_argument("directory")
    p.add_argument("--case", nargs="+", metavar="CASE", dest="cases",
                   help="these cases (catalogue names or case files) instead of the catalogue")
    common.add_max_memory(p, "refuse a case whose estimated memory exceeds SIZE")
    common.add_quiet(p)


def command(args) -> int:
    out = Path(args.directory)
    cases = [common.case_arg(c, args.max_memory) for c in args.cases] if args.cases else None
    if cases:
        common.check_cost(cases, {"reference": None}, args.max_memory)
    with staged(out, common.out_dir(out, "export")) as stage:
        written = export(stage, cases, progress=common.progress(not args.quiet))
    print(f"wrote {len(written)} golden files, index.json and GOLDEN.md to {out}/")
    return EXIT_OK


def tensor(a, bound=None) -> dict:
    """{"shape", "values", "hex"} (+ "bound", "bound_hex") of an array, row-major."""
    a = np.asarray(a, dtype=np.float64)
    out = {"shape": list(a.shape), "values": a.ravel().tolist(),
           "hex": [float(x).hex() for x in a.ravel()]}
    if bound is not None:
        b = np.broadcast_to(np.asarray(bound, dtype=np.float64), a.shape)
        out["bound"] = b.ravel().tolist()
        out["bound_hex"] = [float(x).hex() for x in b.ravel()]
    return out


def _judged(oracle, dtype: str) -> dict:
    """What `verify` judges for this case: how many losses, and why anything is not."""
    rows = compare_results(oracle.base, oracle.base, oracle.amp, dtype, "float64", oracle.case)
    losses = next(r for r in rows if r.name.startswith("losses"))
    n = len(oracle.base.losses)
    if losses.name.startswith("losses[:"):
        n = int(losses.name[len("losses[:"):-1])
    return {"losses": 0 if losses.skipped else n,
            "not_judged": {r.name: r.skipped for r in rows if r.skipped}}


def _section(case, dtype: str) -> dict:
    """The oracle of `case` in `dtype`: its values and the bounds for an implementation of
    that dtype, with kappa and what is judged."""
    oracle = make_oracle(case.replace(dtype=dtype))
    r, B = oracle.base, pair_bounds(oracle.amp, oracle.case, dtype, "float64")
    tensors = {f"gradients.{k}": tensor(v, B["gradients"][k]) for k, v in r.gradients.items()}
    tensors["initial_outputs"] = tensor(r.initial_outputs, B["initial_outputs"])
    tensors["losses"] = tensor(r.losses, B["losses"])
    tensors.update({f"final_params.{k}": tensor(v, B["final_params"][k])
                    for k, v in r.final_params.items()})
    tensors["final_outputs"] = tensor(r.final_outputs, B["final_outputs"])
    if r.final_state is not None:  # an optimizer's state: its step count and each slot
        tensors["final_state.step"] = tensor(float(r.final_state["step"]), 0.0)
        tensors.update({f"final_state.{s}.{k}": tensor(v, B["final_state"][s][k])
                        for s, slot in r.final_state.items() if s != "step"
                        for k, v in slot.items()})
    out = {"kappa": oracle.kappa, "judged": _judged(oracle, dtype), "tensors": tensors}
    if dtype != "float64":  # the inputs every implementation of this dtype computes on
        oc = case.rounded(dtype)
        out["inputs"] = {"X": tensor(oc.X), "Y": tensor(oc.Y), "lr": tensor(oc.lr),
                         **{f"params.{k}": tensor(v) for k, v in oc.params.items()}}
    return out


def golden(case) -> dict:
    """The golden record of one case."""
    case = case.replace(dtype="float64")
    X, Y, p = training.cast(case)
    batches, first = case.update_batches()
    Xb, Yb = X[:, first], Y[:, first]
    AL, caches = network.forward_propagation(Xb, p, case.activations)
    value, grads = network.backward_propagation(Xb, Yb, p, case.activations, case.loss,
                                                case.reduction)
    first_idx = np.arange(case.m) if isinstance(first, slice) else first
    return {
        "format": FORMAT,
        "case": case.to_dict(),
        "batch_order": [np.asarray(b).tolist() for b in case.batch_order()],
        "step0": {
            "batch": np.asarray(first_idx).tolist(),
            "forward": [{"layer": l, "Z": tensor(c["Z"]), "A": tensor(c["A"])}
                        for l, c in enumerate(caches, start=1)],
            "loss": tensor(value),
            "gradients": {k: tensor(v) for k, v in grads.items()},
        },
        "float64": _section(case, "float64"),
        "float32": _section(case, "float32"),
    }


def export(directory, cases=None, progress=None) -> list[Path]:
    """Write one golden file per case (default: the catalogue's float64 cases), index.json
    and GOLDEN.md into `directory`."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if cases is None:
        cases = [c for c in catalogue.all_cases() if c.dtype == "float64"]
    written = []
    for i, case in enumerate(cases, start=1):
        if progress:
            progress(i, len(cases), case.name)
        path = out / f"{case.name}.json"
        with np.errstate(all="ignore"):
            record = golden(case)
        # a diverged value is null in "values"; "hex" keeps inf, nan
        path.write_text(json.dumps(finite(record), allow_nan=False) + "\n")
        written.append(path)
    index = {"format": FORMAT, "cases": [c.name for c in cases],
             "manifest": manifest({"reference": reference.environment()})}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    (out / "GOLDEN.md").write_text(DOC.read_text())
    return written
