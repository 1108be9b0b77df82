"""The judge at realistic width, measured: `python -m comparisons scale`.

For each network of the grid ([784, w, w, 10], m = w: the shapes of issue #20, tanh and relu,
float32 and float64, both update schedules, full batch) it runs the implementations and the
judge as the main job does, and reports what the targets ask (TOLERANCES.md, "Every update,
one step"): how many trajectory tensors of each implementation-against-oracle pair are not
judged (target 0), the verdict, the run's wall time as a multiple of the reference's own
float64 run of the same updates per implementation judged (targets: <= 50x required, <= 20x
goal, at width 1,024) beside the slowest framework's own training time, and the memory: the estimate that --max-memory is checked
against (protocol.cost.Cost.memory, what judging adds to its processes) beside the sum of
every process's peak, imports included. Power at this width is the mutation test's
(tests/test_mutations.py). Nothing is asserted here: the figures are the command's output.
"""

from __future__ import annotations

import itertools
import json
import resource
import time

from comparisons.execution import runner
from comparisons.execution.runner import EXIT_DISAGREE, EXIT_OK
from comparisons.judge.oracle import ORACLE_NAME
from comparisons.judge.parity import TRAJECTORY
from comparisons.judge.verdict import summary
from comparisons.protocol.case import case_from_dict
from comparisons.protocol.cost import case_cost, format_bytes

from . import common

HELP = ("the judge at realistic width ([784, w, w, 10], m = w): trajectory tensors not judged, "
        "verdict, and wall time against the slowest framework's training (TOLERANCES.md)")


def add_arguments(p) -> None:
    p.add_argument("--width", type=common.positive_int, nargs="+", default=[256], metavar="W",
                   help="hidden widths (m = W samples; default 256)")
    p.add_argument("--updates", type=common.positive_int, default=20, metavar="N",
                   help="full-batch updates (default 20)")
    p.add_argument("--activation", nargs="+", choices=["tanh", "relu"],
                   default=["tanh", "relu"])
    p.add_argument("--dtype", nargs="+", choices=["float32", "float64"],
                   default=["float32", "float64"])
    p.add_argument("--schedule", nargs="+", choices=["simultaneous", "sequential"],
                   default=["simultaneous", "sequential"])
    common.add_max_memory(p, "refuse a network whose estimated memory exceeds SIZE")
    p.add_argument("--json", action="store_true", help="the rows as JSON on stdout")
    common.add_impl(p)
    common.add_probabilistic_updates(p)
    common.add_quiet(p)


def command(args) -> int:
    impls, missing = common.select(args.impl)
    for w, act, dtype, sched in itertools.product(args.width, args.activation, args.dtype,
                                                  args.schedule):  # refused before any work
        common.check_cost([grid_case(w, act, dtype, sched, args.updates, args.max_memory)],
                          impls, args.max_memory)
    rows = measure(args.width, args.activation, args.dtype, args.schedule, args.updates,
                   impls, args.max_memory, common.progress(not args.quiet and not args.json))
    if args.json:
        print(json.dumps({"rows": rows, "missing": missing}))
    else:
        print(text_table(rows))
        for n, why in missing.items():
            print(f"not run: {n}: {why}")
    return EXIT_DISAGREE if any(r["verdict"].startswith("FAIL") for r in rows) else EXIT_OK


def grid_case(width: int, activation: str, dtype: str, schedule: str, updates: int,
              max_memory: int):
    """[784, width, width, 10], softmax and cce (mean), m = width blobs, he_normal, lr 0.1."""
    return case_from_dict({
        "name": f"scale-{width}-{activation}-{dtype}-{schedule}-{updates}",
        "description": "issue #20's realistic width", "source": "comparisons/commands/scale.py",
        "dtype": dtype, "layers": [784, width, width, 10],
        "activations": [activation, activation, "softmax"], "loss": "cce", "reduction": "mean",
        "init": {"scheme": "he_normal", "seed": 1}, "data": {"generator": "blobs", "m": width,
                                                            "seed": 2},
        "train": {"lr": 0.1, "epochs": updates, "schedule": schedule}}, max_memory)


def measure(widths, activations, dtypes, schedules, updates, impls: dict, max_memory: int,
            progress=None, probabilistic_updates: int | None = None) -> list[dict]:
    """One row per network of the grid."""
    rows = []
    grid = list(itertools.product(widths, activations, dtypes, schedules))
    for i, (w, act, dtype, schedule) in enumerate(grid, start=1):
        case = grid_case(w, act, dtype, schedule, updates, max_memory)
        t = time.perf_counter()
        session = runner.run([case], impls, probabilistic_updates=probabilistic_updates)
        wall = time.perf_counter() - t
        oracle_pairs = [v for v in session.verdicts if v.pair[1].startswith(ORACLE_NAME)]
        not_judged = sum(1 for v in oracle_pairs for r in v.not_judged if r.kind == TRAJECTORY)
        training = {n: s for n, s in session.training_seconds().items() if n != ORACLE_NAME}
        slowest = max(training, key=training.get) if training else None
        rows.append({
            "case": case.name, "width": w, "m": case.m, "activation": act, "dtype": dtype,
            "schedule": schedule, "updates": updates, "verdict": _verdict(session),
            "pairs": len(session.verdicts),
            "trajectory_not_judged": not_judged,
            "worst_p_ratio": max((v.worst_p.p_ratio for v in oracle_pairs if v.worst_p),
                                 default=None),
            "wall_s": wall, "slowest": slowest,
            "slowest_training_s": training.get(slowest),
            "ratio": wall / training[slowest] if slowest and training[slowest] else None,
            # the cost stated against the reference: its own float64 run of the same updates,
            # once per implementation judged
            "reference_s": session.reference_seconds(),
            "ratio_reference": session.reference_multiple(wall),
            # the estimate that --max-memory is checked against (what judging adds), and what
            # the processes held at their peaks, their imports included (an upper bound of
            # their peak together)
            "memory_estimate": case_cost(case).memory(common.processes(case, impls),
                                                      len(runner.LOCAL_WORKERS)),
            "memory_peaks": sum(session.peak_rss.values()) + _own_peak()})
        if progress:
            progress(i, len(grid), f"{case.name}: {rows[-1]['verdict']}, "
                                   f"{not_judged} not judged, {wall:.1f} s")
    return rows


def _own_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _verdict(session) -> str:
    counts = summary(session.verdicts)
    return ("FAIL" if session.exit_code == 1 else "PASS") + "".join(
        f", {n} {s}" for s, n in counts.items() if n and s != "pass")


def text_table(rows) -> str:
    cols = ("case", "verdict", "trajectory not judged", "worst error/p-bound", "wall s",
            "reference x impls s", "wall / reference", "slowest framework (training s)",
            "wall / slowest", "memory estimate", "process peaks")
    body = [(r["case"], r["verdict"], str(r["trajectory_not_judged"]),
             "–" if r["worst_p_ratio"] is None else f"{r['worst_p_ratio']:.3g}",
             f"{r['wall_s']:.1f}", f"{r['reference_s']:.2f}",
             "–" if r["ratio_reference"] is None else f"{r['ratio_reference']:.1f}x",
             "–" if r["slowest"] is None else f"{r['slowest']} ({r['slowest_training_s']:.2f})",
             "–" if r["ratio"] is None else f"{r['ratio']:.1f}x",
             format_bytes(r["memory_estimate"]), format_bytes(r["memory_peaks"])) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(cols, *body)]
    fmt = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(cols), "-" * len(fmt(cols))] + [fmt(r) for r in body])
