"""The judge at realistic width, measured: `python -m comparisons scale`.

For each network of the grid ([784, w, w, 10], m = w: the shapes of issue #20, tanh and relu,
float32 and float64, both update schedules, full batch) it runs the implementations and the
judge as the main job does, and reports what the targets ask (TOLERANCES.md, "Every update,
one step"): how many trajectory tensors of each implementation-against-oracle pair are not
judged (target 0), the verdict, and the run's wall time against the slowest framework's own
training time (target <= 2x), and the memory: the estimate that --max-memory is checked
against (reference.case.Cost.memory, what judging adds to its processes) beside the sum of
every process's peak, imports included. Power at this width is the mutation test's
(tests/test_mutations.py). Nothing is asserted here: the figures are the command's output.
"""

from __future__ import annotations

import itertools
import time

from reference.case import _bytes, case_cost, case_from_dict

from .judge import ORACLE_NAME
from .parity import TRAJECTORY


def grid_case(width: int, activation: str, dtype: str, schedule: str, updates: int,
              max_memory: int):
    """[784, width, width, 10], softmax and cce (mean), m = width blobs, he_normal, lr 0.1."""
    return case_from_dict({
        "name": f"scale-{width}-{activation}-{dtype}-{schedule}-{updates}",
        "description": "issue #20's realistic width", "source": "comparisons/scale.py",
        "dtype": dtype, "layers": [784, width, width, 10],
        "activations": [activation, activation, "softmax"], "loss": "cce", "reduction": "mean",
        "init": {"scheme": "he_normal", "seed": 1}, "data": {"generator": "blobs", "m": width,
                                                            "seed": 2},
        "train": {"lr": 0.1, "epochs": updates, "schedule": schedule}}, max_memory)


def measure(widths, activations, dtypes, schedules, updates, impls: dict, max_memory: int,
            progress=None) -> list[dict]:
    """One row per network of the grid."""
    from . import runner
    rows = []
    grid = list(itertools.product(widths, activations, dtypes, schedules))
    for i, (w, act, dtype, schedule) in enumerate(grid, start=1):
        case = grid_case(w, act, dtype, schedule, updates, max_memory)
        t = time.perf_counter()
        session = runner.run([case], impls)
        wall = time.perf_counter() - t
        oracle_pairs = [v for v in session.verdicts if v.pair[1].startswith(ORACLE_NAME)]
        not_judged = sum(1 for v in oracle_pairs for r in v.not_judged if r.kind == TRAJECTORY)
        training = {n: s for n, s in session.training_seconds().items() if n != ORACLE_NAME}
        processes = max(1, sum(1 for n in impls if n != ORACLE_NAME))
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
            # the estimate that --max-memory is checked against (what judging adds), and what
            # the processes held at their peaks, their imports included (an upper bound of
            # their peak together)
            "memory_estimate": case_cost(case).memory(processes, len(runner.LOCAL_WORKERS)),
            "memory_peaks": sum(session.peak_rss.values()) + _own_peak()})
        if progress:
            progress(i, len(grid), f"{case.name}: {rows[-1]['verdict']}, "
                                   f"{not_judged} not judged, {wall:.1f} s")
    return rows


def _own_peak() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _verdict(session) -> str:
    from .judge import summary
    counts = summary(session.verdicts)
    return ("FAIL" if session.exit_code == 1 else "PASS") + "".join(
        f", {n} {s}" for s, n in counts.items() if n and s != "pass")


def text_table(rows) -> str:
    cols = ("case", "verdict", "trajectory not judged", "worst error/p-bound", "wall s",
            "slowest framework (training s)", "wall / slowest", "memory estimate",
            "process peaks")
    body = [(r["case"], r["verdict"], str(r["trajectory_not_judged"]),
             "–" if r["worst_p_ratio"] is None else f"{r['worst_p_ratio']:.3g}",
             f"{r['wall_s']:.1f}",
             "–" if r["slowest"] is None else f"{r['slowest']} ({r['slowest_training_s']:.2f})",
             "–" if r["ratio"] is None else f"{r['ratio']:.1f}x",
             _bytes(r["memory_estimate"]), _bytes(r["memory_peaks"])) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(cols, *body)]
    fmt = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(cols), "-" * len(fmt(cols))] + [fmt(r) for r in body])
