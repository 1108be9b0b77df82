"""`run`: one case (a catalogue name or a case file) through the implementations, judged."""

from __future__ import annotations

from comparisons import catalogue, report
from comparisons.execution import runner
from comparisons.report import output

from . import common

HELP = ("run one case (a catalogue name or a case file) through the implementations and judge "
        "it")


def add_arguments(p) -> None:
    p.add_argument("case", help="a catalogue name or a .json/.toml case file")
    p.add_argument("--json", action="store_true",
                   help="one JSON document on stdout (floats round-trip exactly)")
    p.add_argument("--dtype", choices=["float64", "float32"],
                   help="run the case in this dtype; float32 is judged against the float64 "
                        "reference on the float32-rounded inputs")
    common.add_impl(p)
    common.add_run_limits(p)
    common.add_device(p)
    common.add_world_size(p)
    common.add_probabilistic_updates(p)
    common.add_quiet(p)


def command(args) -> int:
    case = common.case_arg(args.case, args.max_memory)
    if args.dtype:
        if case.precision is not None and args.dtype != case.dtype:
            raise common.UsageError(f"--dtype {args.dtype}: {case.name} has a reduced-precision "
                             f"policy, whose master weights are {case.dtype}")
        case = case.replace(dtype=args.dtype)
    impls, missing = common.select(args.impl)
    options = common.device_options(args)
    impls, missing = common.data_parallel(impls, missing, args.world_size, options)
    common.check_cost([case], impls, args.max_memory, options.get("device", "cpu"),
                      options.get("precision", "default"))
    if len(impls) < 2 and case.dtype == "float64":  # the reference alone: nothing to compare
        return common.incomplete("nothing was compared: only the reference is available; "
                                 + common.listed(missing))
    session = runner.run([case], impls, missing, timeout=args.timeout, options=options,
                         progress=common.progress(not args.quiet and not args.json),
                         probabilistic_updates=args.probabilistic_updates)
    code = session.exit_code
    if args.json:
        print(output.dumps(report.run_document(case, session)))
        return code
    for impl, r in session.runs[case.name].items():
        if r.status == "ok":
            print(f"{impl:>10}: {len(r.result.losses) - 1} updates, loss {r.result.losses[0]:.9g} "
                  f"-> {r.result.losses[-1]:.9g} ({r.seconds:.3f} s)")
        else:
            print(f"{impl:>10}: {r.status}: {r.message}")
    if session.verdicts:
        source = {} if args.case in catalogue.names() else {case.name: args.case}
        print(report.text_table(session.verdicts, source))
    print(report.verdict_line(session))
    for line in report.not_run_lines(session):
        print(line)
    return code
