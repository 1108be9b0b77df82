"""Power at every update, as figures: a relative error planted at one update of a realistic
run, judged as local judging judges it (comparisons/judge/local.py; TOLERANCES.md, "Every
update, one step").

    python tools/intermittent.py [--width 256] [--updates 100] [--at 0 37 50 99]
                                 [--error 1e-4] [--json]

The float32 reference runs [784, W, W, 10], m = W, tanh, softmax + cce, full batch (the grid
of `python -m comparisons scale`) one update at a time, as an implementation's worker returns
it. At update k only, one defect of relative size --error is planted
(comparisons/catalogue/mutants.py, ONE_UPDATE): dW (dW2 off: the gradients at P[k] and the
update they make), loss (the loss before the update), step (the update's step lr * dW2 alone:
P[k+1] and A[L] after it).

Each planted update is judged from the implementation's own P[k] (the updates before it are
the unplanted reference's, which the catalogue and the nightly campaign judge), and the tool
prints its verdict, the value that decides, its error/p-bound, and the smallest relative
error of that kind the probabilistic level detects at that update (--error divided by
error/p-bound: the planted error dominates the rounding of the comparison). Nothing is
asserted here; tests/test_local.py holds the requirement at width 256.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import reference  # noqa: E402
from comparisons.catalogue import mutants  # noqa: E402
from comparisons.commands.scale import grid_case  # noqa: E402
from comparisons.execution.workers import trajectory  # noqa: E402
from comparisons.judge import local  # noqa: E402
from reference import network  # noqa: E402

def judge_update(case, t: int, params, result):
    """The rows of update t alone, judged from `params` = P[t]."""
    state = local.Judging(case, "float32", t=t)
    return state.add(params, [result]).rows()


def decisive(rows):
    """The failing row with the largest error/p-bound, else the row with the largest."""
    judged = [r for r in rows if not r.skipped]
    failing = [r for r in judged if not r.ok]
    pool = failing or judged
    return max(pool, key=lambda r: r.p_ratio if r.p_ratio == r.p_ratio else -1.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--updates", type=int, default=100)
    p.add_argument("--at", type=int, nargs="+", default=[0, 37, 50, 99])
    p.add_argument("--error", type=float, default=1e-4)
    p.add_argument("--kinds", nargs="+", choices=list(mutants.ONE_UPDATE),
                   default=list(mutants.ONE_UPDATE))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    bad = [k for k in args.at if not 0 <= k < args.updates]
    if bad:
        p.error(f"--at: updates {bad} are outside 0..{args.updates - 1}")
    case = grid_case(args.width, "tanh", "float32", "simultaneous", args.updates, 1 << 40)
    with np.errstate(all="ignore"):
        runs = trajectory(reference.train, case.replace(epochs=max(args.at) + 1))
    before = [case.params] + [r.final_params for r in runs[:-1]]
    out = []
    for k in args.at:
        for kind in ["none"] + args.kinds:
            r = runs[k] if kind == "none" else mutants.planted_update(
                case, before[k], runs[k], kind, args.error, network.forward_propagation)
            with np.errstate(all="ignore"):
                rows = judge_update(case, k, before[k], r)
            d = decisive(rows)
            ok = all(x.ok or x.skipped for x in rows)
            row = {"update": k, "planted": kind, "verdict": "PASS" if ok else "FAIL",
                   "value": d.name.removesuffix(local.SUFFIX), "p_ratio": d.p_ratio,
                   "worst_ratio": d.worst_ratio,
                   "detectable_from": (args.error / d.p_ratio if kind != "none" and d.p_ratio
                                       else None)}
            out.append(row)
            if not args.json:
                det = row["detectable_from"]
                print(f"update {k:>4}  {kind:<5} {row['verdict']:<5} {row['value']:<12} "
                      f"error/p-bound {d.p_ratio:9.3g}  error/bound {d.worst_ratio:9.3g}"
                      + (f"  detects from {det:.2g}" if det else ""), flush=True)
    if args.json:
        print(json.dumps({"width": args.width, "updates": args.updates, "error": args.error,
                          "rows": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
