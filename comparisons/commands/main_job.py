"""The main job (`python -m comparisons` without a command): every catalogue case through every
installed implementation, the parity table, and the report directory."""

from __future__ import annotations

import fnmatch
import json
import sys
import time
from pathlib import Path

from comparisons import STARTED, catalogue, report
from comparisons.execution import runner
from comparisons.execution.runner import EXIT_DISAGREE, EXIT_OK
from comparisons.report import manifest, output, plots

from . import common
from .common import UsageError

HELP = ("backprop-parity: the NumPy reference against every registered implementation. "
        "Without a command: the main job (every catalogue case, every installed "
        "implementation, parity table, report).")


def add_arguments(p) -> None:
    """The main job's options, at the top level (dest main_*: given with a command, they are
    an error, cli._parse)."""
    p.add_argument("--out", default="parity-report", metavar="DIR", dest="main_out",
                   help="report directory (default: parity-report/)")
    p.add_argument("--no-plots", action="store_true", dest="main_no_plots",
                   help="skip the PNG plots")
    p.add_argument("--cases", nargs="+", metavar="GLOB", dest="main_cases",
                   help="only the catalogue cases matching these patterns")
    p.add_argument("-x", "--exitfirst", action="store_true", dest="main_exitfirst",
                   help="stop at the first case with a disagreement")
    p.add_argument("--impl", nargs="+", metavar="NAME", dest="main_impl", help=common.IMPL_HELP)
    common.add_max_memory(p, dest="main_max_memory")
    common.add_timeout(p, dest="main_timeout")
    common.add_quiet(p, dest="main_quiet")
    common.add_device(p, "main_")
    common.add_world_size(p, "main_")
    common.add_probabilistic_updates(p, dest="main_probabilistic_updates")


def command(args) -> int:
    out = Path(args.out)
    impls, missing = common.select(args.impl)
    names = catalogue.names()
    if args.cases:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in args.cases)]
        if not names:
            raise UsageError(f"--cases: no catalogue case matches {' '.join(args.cases)}")
    cases = [catalogue.get(n) for n in names]
    options = common.device_options(args)
    impls, missing = common.data_parallel(impls, missing, args.world_size, options)
    common.check_cost(cases, impls, args.max_memory, options.get("device", "cpu"),
                      options.get("precision", "default"))
    if len(impls) < 2:
        return common.incomplete("nothing was compared: only the reference is available; "
                                 + common.listed(missing))
    show = common.progress(not args.quiet)
    with output.staged(out, common.out_dir(out)) as stage:  # an interrupted job writes nothing
        plotter = None if args.no_plots else plots.Plotter(stage / "plots")
        if plotter is not None and plotter.note:  # said here, not only in report.md
            print(f"note: {plotter.note}", file=sys.stderr)
        session = runner.run(cases, impls, missing, timeout=args.timeout, progress=show,
                             exitfirst=args.exitfirst, options=options,
                             judged_case=plotter.case if plotter is not None else None,
                             slowest_first=report.training_seconds(out),
                             probabilistic_updates=args.probabilistic_updates)
        print(report.text_table(session.verdicts))
        show(len(session.cases), len(cases), f"writing the report to {out}")
        _, published_ok = report.write(
            stage, session, manifest.manifest(session.environments,
                                              digest=manifest.digest(impls), options=options),
            bench=latest_bench(out), plots=plotter)
        report.write_oracles(stage, session.oracles)
    path = out / "report.md"
    wall = time.perf_counter() - STARTED
    slowest = max(session.training_seconds().items(), key=lambda kv: kv[1], default=None)
    costs = ([f"{wall / slowest[1]:.2f} x the training time of the slowest implementation, "
              f"{slowest[0]}: {slowest[1]:.1f} s"] if slowest and slowest[1] > 0 else [])
    multiple = session.reference_multiple(wall)
    if multiple is not None:
        costs.append(f"{multiple:.0f} x the reference's float64 runs, once per implementation "
                     f"judged: {session.reference_seconds():.2f} s")
    pace = f" ({'; '.join(costs)})" if costs else ""
    print(f"{report.verdict_line(session, published_ok)}; {len(session.cases)} cases in "
          f"{wall:.1f} s{pace}; report: {path}")
    for line in report.not_run_lines(session):
        print(line)
    code = session.exit_code
    return EXIT_DISAGREE if code == EXIT_OK and not published_ok else code


def latest_bench(out: Path):
    """The latest `bench` document saved in the report directory, or None."""
    p = out / "bench.json"
    try:
        return json.loads(p.read_text()) if p.exists() else None
    except (OSError, ValueError):
        return None
