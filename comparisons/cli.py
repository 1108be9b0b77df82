"""`python -m comparisons`: the main job and the study tools (`--help` lists them)."""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # the main job's wall time counts its own imports

import argparse
import fnmatch
import itertools
import json
import os
import sys
from pathlib import Path

from reference.case import DEFAULT_MAX_MEMORY, CaseError, case_cost, check_memory, parse_bytes

from . import catalogue, devices, output, protocol, runner
from .runner import EXIT_DISAGREE, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE

EXIT_STATUS = f"""exit status:
  {EXIT_OK}  every comparison made agrees (what was skipped is listed)
  {EXIT_DISAGREE}  a disagreement, an implementation error, or an unexpected published figure
  {EXIT_USAGE}  bad input: one line on stderr naming the field, the value and what was expected;
     nothing was run and nothing written
  {EXIT_INCOMPLETE}  nothing was compared: fewer than two implementations ran (the line says
     what is missing and how to install it)
  130  interrupted (Ctrl-C), 143  terminated (SIGTERM): workers ended, nothing written
"""


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message}")


# --- Options, each only where it acts --------------------------------------------------------

def _size(text):
    try:
        return parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text):
    try:
        v = float(text)
    except ValueError:
        v = -1
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return v


def _add_impl(p):
    p.add_argument("--impl", nargs="+", metavar="NAME",
                   help="implementations to judge: registered names (see `list --impl`) or "
                        "module paths; the reference always runs (default: every registered "
                        "one)")


def _add_run_limits(p):
    p.add_argument("--max-memory", type=_size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                   help="refuse a case whose estimated memory exceeds SIZE "
                        f"(default {DEFAULT_MAX_MEMORY // 1024 ** 3}G; e.g. 8G, 500M)")
    p.add_argument("--timeout", type=_positive, default=runner.DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds one implementation may take for one case "
                        f"(default {runner.DEFAULT_TIMEOUT:g})")


MAX_RANKS_PER_CPU = 4  # gloo ranks share cores; beyond this a run only waits on the scheduler


def _world_size(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes >= 1, got {text!r}")
    return v


def _data_parallel(impls: dict, missing: dict, world_size: int, options: dict) -> None:
    """Add each implementation's data-parallel variant (`torch-dp3`) for world_size > 1, or
    list why it has none; bad input (exit 2) before any process starts."""
    if world_size == 1:
        return
    most = MAX_RANKS_PER_CPU * (os.cpu_count() or 1)
    if world_size > most:
        raise UsageError(f"--world-size: {world_size} processes on this machine's "
                         f"{os.cpu_count()} CPUs; expected at most {most}")
    for name, impl in list(impls.items()):
        if name == runner.ORACLE_NAME:
            continue
        variant = f"{name}-dp{world_size}"
        if not impl.data_parallel:
            missing[variant] = f"{name} declares no data-parallel training"
            continue
        why = impl.data_parallel_missing(world_size, **options)
        if why:
            raise UsageError(f"--world-size: {world_size}: {why}")
        impls[variant] = impl.data_parallel_variant(world_size)


def _add_world_size(p, dest_prefix=""):
    p.add_argument("--world-size", type=_world_size, default=1, metavar="N",
                   dest=f"{dest_prefix}world_size",
                   help="also run every implementation that offers it data-parallel on N "
                        "processes, judged as an implementation of its own (default 1: none)")


def _add_device(p, dest_prefix=""):
    p.add_argument("--device", default=devices.DEFAULT_DEVICE, metavar="DEVICE",
                   dest=f"{dest_prefix}device",
                   help="where the autodiff implementations run: cpu (default), cuda (alias "
                        "gpu); the reference always runs on the CPU")
    p.add_argument("--precision", default=devices.DEFAULT_PRECISION, metavar="MODE",
                   dest=f"{dest_prefix}precision",
                   help="float32 matrix products on accelerators: default (the framework's "
                        "own, possibly TF32) or highest; set for the run, restored after it")


def _device_options(args) -> dict:
    """The train options of --device/--precision, checked before any work (exit 2)."""
    try:
        device, precision = devices.check(args.device, args.precision)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return devices.train_options(device, precision)


def _add_quiet(p):
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _parser() -> argparse.ArgumentParser:
    prog = ("backprop-parity" if os.path.basename(sys.argv[0] or "") == "backprop-parity"
            else "python -m comparisons")  # the console script, or the module
    p = _Parser(prog=prog, epilog=EXIT_STATUS,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                description="backprop-parity: the NumPy reference against every registered "
                            "implementation. Without a command: the main job (every catalogue "
                            "case, every installed implementation, parity table, report).")
    # The main job's options (dest main_*): given with a command, they are an error.
    p.add_argument("--out", default="parity-report", metavar="DIR", dest="main_out",
                   help="report directory (default: parity-report/)")
    p.add_argument("--no-plots", action="store_true", dest="main_no_plots",
                   help="skip the PNG plots")
    p.add_argument("--cases", nargs="+", metavar="GLOB", dest="main_cases",
                   help="only the catalogue cases matching these patterns")
    p.add_argument("-x", "--exitfirst", action="store_true", dest="main_exitfirst",
                   help="stop at the first case with a disagreement")
    p.add_argument("--impl", nargs="+", metavar="NAME", dest="main_impl",
                   help="implementations to judge: registered names (see `list --impl`) or "
                        "module paths; the reference always runs (default: every registered "
                        "one)")
    p.add_argument("--max-memory", type=_size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                   dest="main_max_memory",
                   help="refuse a case whose estimated memory exceeds SIZE "
                        f"(default {DEFAULT_MAX_MEMORY // 1024 ** 3}G; e.g. 8G, 500M)")
    p.add_argument("--timeout", type=_positive, default=runner.DEFAULT_TIMEOUT, metavar="S",
                   dest="main_timeout",
                   help=f"seconds one implementation may take for one case "
                        f"(default {runner.DEFAULT_TIMEOUT:g})")
    p.add_argument("--quiet", action="store_true", dest="main_quiet",
                   help="no progress on stderr")
    _add_device(p, "main_")
    _add_world_size(p, "main_")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    def command(name, help_):
        return sub.add_parser(name, help=help_, description=help_, epilog=EXIT_STATUS,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    r = command("run", "run one case (a catalogue name or a case file) through the "
                       "implementations and judge it")
    r.add_argument("case", help="a catalogue name or a .json/.toml case file")
    r.add_argument("--json", action="store_true",
                   help="one JSON document on stdout (floats round-trip exactly)")
    r.add_argument("--dtype", choices=["float64", "float32"],
                   help="run the case in this dtype; float32 is judged against the float64 "
                        "reference on the float32-rounded inputs")
    _add_impl(r)
    _add_run_limits(r)
    _add_device(r)
    _add_world_size(r)
    _add_quiet(r)
    v = command("verify", "judge one implementation's results (the block `run --json` writes), "
                          "from any language, against the reference")
    v.add_argument("case", help="a catalogue name or a .json/.toml case file")
    v.add_argument("results", help="a JSON file: losses, gradients, final_params, final_outputs, "
                                   "initial_outputs (comparisons/GOLDEN.md)")
    v.add_argument("--dtype", choices=["float64", "float32"],
                   help="the dtype the results were computed in (default: the case's)")
    v.add_argument("--impl", metavar="NAME",
                   help="the block to take from a whole `run --json` document")
    v.add_argument("--name", default="results", help="the name in the verdict (default: results)")
    v.add_argument("--json", action="store_true", help="the verdict as JSON on stdout")
    v.add_argument("--max-memory", type=_size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                   help="refuse a case whose estimated memory exceeds SIZE")
    _add_quiet(v)
    c = command("conform", "the conformance suite for one implementation: the catalogue, the "
                           "published figures and a property campaign, with a report")
    c.add_argument("implementation", help="a registered name or a module path (mypkg.bp_impl)")
    c.add_argument("--examples", type=int, default=20, metavar="N",
                   help="drawn cases in the property campaign (default 20)")
    c.add_argument("--seed", type=int, default=0, help="the campaign's seed (default 0)")
    c.add_argument("--xfail", metavar="FILE", help="expected failures: 'case-glob[:dtype]  # reason' "
                                                   "a line")
    c.add_argument("--skip", metavar="FILE", help="cases not to run, in the same format")
    c.add_argument("--out", default="conform-report", metavar="DIR",
                   help="where conformance.md and conformance.json go (default: conform-report/)")
    c.add_argument("--timeout", type=_positive, default=runner.DEFAULT_TIMEOUT, metavar="S",
                   help="seconds the implementation may take for one case")
    _add_device(c)
    _add_world_size(c)
    _add_quiet(c)
    g = command("diagnose", "where a failing pair first leaves its bound: the update, then the "
                            "first formula given the reference's inputs, the element and why")
    g.add_argument("case", help="a catalogue name or a .json/.toml case file")
    g.add_argument("--impl", required=True, metavar="NAME",
                   help="the implementation to diagnose: a registered name or a module path")
    g.add_argument("--against", default="reference", metavar="NAME",
                   help="the other side of the pair (default: the reference)")
    g.add_argument("--dtype", choices=["float64", "float32"], help="run the case in this dtype")
    g.add_argument("--json", action="store_true",
                   help="a JSON list on stdout, one object per diagnosed pair")
    g.add_argument("--out", default="diagnose-report", metavar="DIR",
                   help="where the reproducer case file goes (default: diagnose-report/)")
    _add_run_limits(g)
    _add_device(g)
    _add_quiet(g)
    w = command("walkthrough", "every intermediate of one forward and backward pass, "
                               "implementation beside implementation")
    w.add_argument("case", nargs="?", default="mazur-sequential",
                   help="a catalogue name or a case file (default: mazur-sequential)")
    w.add_argument("--json", action="store_true", help="every entry as JSON")
    w.add_argument("--schedule", choices=["sequential", "simultaneous"],
                   help="show this update schedule instead of the case's own")
    shown = w.add_mutually_exclusive_group()
    shown.add_argument("--compact", action="store_true", default=None,
                       help="one row per tensor (default when there are more than 120 elements)")
    shown.add_argument("--full", action="store_false", dest="compact",
                       help="every element, however many")
    _add_impl(w)
    e = command("export", "golden vectors (comparisons/GOLDEN.md) for every catalogue case")
    e.add_argument("directory")
    e.add_argument("--case", nargs="+", metavar="CASE", dest="cases",
                   help="these cases (catalogue names or case files) instead of the catalogue")
    e.add_argument("--max-memory", type=_size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                   help="refuse a case whose estimated memory exceeds SIZE")
    _add_quiet(e)
    b = command("bench", "per-step timings of the implementations, interleaved")
    b.add_argument("--json", action="store_true", help="the document as JSON on stdout")
    b.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    b.add_argument("--out", default="parity-report", metavar="DIR",
                   help="where bench.json is saved (default: parity-report/)")
    _add_impl(b)
    _add_quiet(b)
    sc = command("scale", "the judge at realistic width ([784, w, w, 10], m = w): trajectory "
                          "tensors not judged, verdict, and wall time against the slowest "
                          "framework's training (TOLERANCES.md)")
    sc.add_argument("--width", type=_positive_int, nargs="+", default=[256], metavar="W",
                    help="hidden widths (m = W samples; default 256)")
    sc.add_argument("--updates", type=_positive_int, default=20, metavar="N",
                    help="full-batch updates (default 20)")
    sc.add_argument("--activation", nargs="+", choices=["tanh", "relu"],
                    default=["tanh", "relu"])
    sc.add_argument("--dtype", nargs="+", choices=["float32", "float64"],
                    default=["float32", "float64"])
    sc.add_argument("--schedule", nargs="+", choices=["simultaneous", "sequential"],
                    default=["simultaneous", "sequential"])
    sc.add_argument("--max-memory", type=_size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                    help="refuse a network whose estimated memory exceeds SIZE")
    sc.add_argument("--json", action="store_true", help="the rows as JSON on stdout")
    _add_impl(sc)
    _add_quiet(sc)
    f = command("figures", "the measured figures the docs quote, from a main job's report")
    f.add_argument("--report", default="parity-report", metavar="DIR",
                   help="the main job's report directory (default: parity-report/)")
    f.add_argument("--check", nargs="+", metavar="FILE", default=[],
                   help="exit 1 if a figure in these files differs from the report")
    f.add_argument("--update", nargs="+", metavar="FILE", default=[],
                   help="rewrite the figures in these files from the report")
    f.add_argument("--strict", action="store_true",
                   help="with --check: also require the figures measured on the frameworks' "
                        "kernels to equal this report's (on the machine the file names)")
    fw = command("frameworks", "the framework parity table (docs/FRAMEWORKS.md), from a main "
                               "job's report")
    fw.add_argument("--report", default="parity-report", metavar="DIR",
                    help="the main job's report directory (default: parity-report/)")
    fw.add_argument("--update", metavar="FILE", help="write the page (docs/FRAMEWORKS.md)")
    ls = command("list", "the catalogue cases, or with --impl the implementations")
    ls.add_argument("--impl", action="store_true", help="list the registered implementations")
    return p


def _parse(argv):
    parser = _parser()
    args = parser.parse_args(argv)
    defaults = vars(parser.parse_args([]))
    main = {k: v for k, v in vars(args).items() if k.startswith("main_")}
    if args.command:
        for k, v in main.items():
            if v != defaults[k]:
                raise UsageError(f"--{k[5:].replace('_', '-')}: an option of the main job; "
                                 f"put it after `{args.command}` only if "
                                 f"`{args.command} --help` lists it")
    else:
        for k, v in main.items():
            setattr(args, k[5:], v)
    return args


def _progress(enabled):
    def show(i, n, text):
        if enabled:
            print(f"[{i}/{n} {time.perf_counter() - STARTED:5.1f} s] {text}", file=sys.stderr,
                  flush=True)
    return show


def _select(names):
    try:
        return runner.select(names)
    except protocol.ProtocolError as e:
        raise UsageError(str(e)) from None


def _case_arg(text, max_memory=DEFAULT_MAX_MEMORY):
    """A catalogue name or a case file, wherever a case is expected."""
    if text in catalogue.names():
        return catalogue.get(text)
    try:
        is_file = Path(text).suffix.lower() in (".json", ".toml") or Path(text).exists()
    except OSError:  # not a path this system accepts (a name too long, ...)
        is_file = False
    if is_file:
        from reference import load_case
        return load_case(text, max_memory)
    shown = repr(text) if len(text) <= 80 else repr(text[:77]) + "..."
    raise UsageError(f"case: {shown} is neither a catalogue case (see `python -m comparisons "
                     "list`) nor a .json/.toml case file")


def _out_dir(out: Path, option: str = "--out") -> bool:
    """Check the output directory before any work (exit 2); True when this run created it
    (output.staged removes it again if the run is interrupted)."""
    try:
        return output.check_writable(out)
    except OSError as e:
        raise UsageError(f"{option}: cannot write to {out} "
                         f"({getattr(e, 'strerror', None) or e})") from None


def _check_cost(cases, impls, max_memory):
    # one process per implementation, N per data-parallel variant
    processes = max(1, sum(getattr(i, "world_size", 1) for n, i in impls.items()
                           if n != runner.ORACLE_NAME))
    for c in cases:
        try:
            check_memory(case_cost(c), max_memory, processes, len(runner.LOCAL_WORKERS))
        except CaseError as e:
            raise CaseError(f"{c.name}: {e}") from None


# --- Commands ---------------------------------------------------------------------------------

def main_job(args) -> int:
    from . import report
    out = Path(args.out)
    impls, missing = _select(args.impl)
    names = catalogue.names()
    if args.cases:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in args.cases)]
        if not names:
            raise UsageError(f"--cases: no catalogue case matches {' '.join(args.cases)}")
    cases = [catalogue.get(n) for n in names]
    options = _device_options(args)
    _data_parallel(impls, missing, args.world_size, options)
    _check_cost(cases, impls, args.max_memory)
    if len(impls) < 2:
        print("INCOMPLETE: nothing was compared: only the reference is available; "
              + "; ".join(f"{k}: {v}" for k, v in missing.items()), file=sys.stderr)
        return EXIT_INCOMPLETE
    show = _progress(not args.quiet)
    from . import manifest, plots
    with output.staged(out, _out_dir(out)) as stage:  # an interrupted job writes nothing
        plotter = None if args.no_plots else plots.Plotter(stage / "plots")
        session = runner.run(cases, impls, missing, timeout=args.timeout, progress=show,
                             exitfirst=args.exitfirst, options=options,
                             judged_case=plotter.case if plotter is not None else None,
                             slowest_first=report.training_seconds(out))
        print(report.text_table(session.verdicts))
        _, published_ok = report.write(
            stage, session, manifest.manifest(session.environments,
                                              digest=manifest.digest(impls), options=options),
            bench=_latest_bench(out), plots=plotter)
        report.write_oracles(stage, session.oracles)
    path = out / "report.md"
    wall = time.perf_counter() - STARTED
    slowest = max(session.training_seconds().items(), key=lambda kv: kv[1], default=None)
    pace = (f" ({wall / slowest[1]:.2f} x the training time of the slowest implementation, "
            f"{slowest[0]}: {slowest[1]:.1f} s)" if slowest and slowest[1] > 0 else "")
    print(f"{report.verdict_line(session, published_ok)}; {len(session.cases)} cases in "
          f"{wall:.1f} s{pace}; report: {path}")
    code = session.exit_code
    return EXIT_DISAGREE if code == EXIT_OK and not published_ok else code


def _latest_bench(out: Path):
    p = out / "bench.json"
    try:
        return json.loads(p.read_text()) if p.exists() else None
    except (OSError, ValueError):
        return None


def run_command(args) -> int:
    from . import report
    case = _case_arg(args.case, args.max_memory)
    if args.dtype:
        case = case.replace(dtype=args.dtype)
    impls, missing = _select(args.impl)
    options = _device_options(args)
    _data_parallel(impls, missing, args.world_size, options)
    _check_cost([case], impls, args.max_memory)
    if len(impls) < 2 and case.dtype == "float64":  # the reference alone: nothing to compare
        print("INCOMPLETE: nothing was compared: only the reference is available; "
              + "; ".join(f"{k}: {v}" for k, v in missing.items()), file=sys.stderr)
        return EXIT_INCOMPLETE
    session = runner.run([case], impls, missing, timeout=args.timeout, options=options,
                         progress=_progress(not args.quiet and not args.json))
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
        print(report.text_table(session.verdicts))
    print(report.verdict_line(session))
    return code


def verify_command(args) -> int:
    from . import judge, report, verify
    case = _case_arg(args.case, args.max_memory)
    if args.dtype:
        case = case.replace(dtype=args.dtype)
    check_memory(case_cost(case), args.max_memory, 1)
    result = verify.load_results(args.results, case, args.impl)
    oracle = judge.make_oracle(case)
    verdicts = judge.judge_case(oracle, {args.name: judge.Run(args.name, "ok", result)})
    code = EXIT_DISAGREE if any(v.failing for v in verdicts) else EXIT_OK
    if args.json:
        print(output.dumps({"case": case.name, "dtype": case.dtype, "exit_code": code,
                            "verdict": "pass" if code == 0 else "fail",
                            "parity": [v.to_dict() for v in verdicts]}))
        return code
    print(report.text_table(verdicts))
    for v in verdicts:
        for r in v.rows:
            if not r.ok and not r.skipped:
                print("  " + r.line())
    print(("PASS: " if code == 0 else "FAIL: ") + f"{args.results} against the reference on "
          f"{case.name} ({case.dtype}), kappa {oracle.kappa:.3g}")
    return code


def conform_command(args) -> int:
    from . import conform
    if not 0 <= args.examples <= 10_000:
        raise UsageError(f"--examples: expected 0..10000, got {args.examples}")
    xfail = conform.read_entries(args.xfail) if args.xfail else []
    skip = conform.read_entries(args.skip) if args.skip else []
    impls, _ = _select([args.implementation])  # bad names are bad input before any work
    options = _device_options(args)
    if args.world_size > 1:
        impl = impls.get(protocol.resolve(args.implementation).name)
        if impl is not None and not impl.data_parallel:
            raise UsageError(f"--world-size: {impl.name} declares no data-parallel training")
        _data_parallel(impls, {}, args.world_size, options)
    out = Path(args.out)  # created only once every argument is known to be good
    with output.staged(out, _out_dir(out)) as stage:
        doc, code = conform.conform(args.implementation, examples=args.examples,
                                    seed=args.seed, xfail=xfail, skip=skip,
                                    timeout=args.timeout, options=options,
                                    world_size=args.world_size,
                                    progress=_progress(not args.quiet))
        conform.write(stage, doc)
    path = out / "conformance.md"
    if "missing" in doc:
        print(f"INCOMPLETE: {doc['implementation']} cannot run here: {doc['missing']}",
              file=sys.stderr)
        return code
    for name in doc.get("failing_cases", {}):
        print(f"failing drawn case {name}: re-run with "
              f"{conform.rerun_command(doc, name, out)}", file=sys.stderr)
    counts = ", ".join(f"{v} {k}" for k, v in doc["summary"].items() if v)
    print(f"{doc['verdict'].upper()}: {doc['implementation']}: {counts}; report: {path}")
    return code


def diagnose_command(args) -> int:
    from . import diagnose
    case = _case_arg(args.case, args.max_memory)
    if args.dtype:
        case = case.replace(dtype=args.dtype)
    impls, missing = _select([args.impl] + ([args.against] if args.against != "reference"
                                            else []))
    a = protocol.resolve(args.impl).name
    b = protocol.resolve(args.against).name
    if a == b:
        raise UsageError(f"--against: {b!r} is the implementation being diagnosed; expected "
                         "another one")
    options = _device_options(args)
    _check_cost([case], impls, args.max_memory)
    if missing:
        print("INCOMPLETE: nothing to diagnose: " + "; ".join(f"{k}: {v}" for k, v in
                                                              missing.items()), file=sys.stderr)
        return EXIT_INCOMPLETE
    out = Path(args.out)
    show = _progress(not args.quiet and not args.json)
    with output.staged(out, _out_dir(out)) as stage:
        found, repro = diagnose.diagnose(case, impls, a, b, timeout=args.timeout,
                                         options=options,
                                         progress=lambda text: show(1, 1, text))
        if repro is not None:
            (stage / f"{repro.name}.json").write_text(output.dumps(repro.to_dict(), indent=1)
                                                      + "\n")
            found.reproducer = str(out / f"{repro.name}.json")
    if args.json:
        print(output.dumps([found.to_dict()]))
    else:
        print("\n".join(found.lines()))
    if found.status == "not compared":
        return EXIT_INCOMPLETE
    return EXIT_DISAGREE if found.first_update is not None or found.status == "error" else EXIT_OK


def walkthrough_command(args) -> int:
    from . import walkthrough
    case = _case_arg(args.case)
    if args.schedule:
        case = case.replace(schedule=args.schedule)
    impls, missing = _select(args.impl)
    traces, skipped, errors = walkthrough.traces(impls, case)
    skipped = {**missing, **skipped}
    code = EXIT_DISAGREE if errors else EXIT_OK
    if args.json:
        print(json.dumps({"case": case.name, "schedule": case.schedule, "exit_code": code,
                          "skipped": skipped, "errors": errors, "rows": [
            {"quantity": k, "values": v, "published": p, "ulp": walkthrough.ulps(v, case.dtype),
             "formula": walkthrough.formula(k.split("[")[0], case)[0],
             "function": walkthrough.formula(k.split("[")[0], case)[1]}
            for k, v, p in walkthrough.rows(traces, walkthrough.MAZUR_PUBLISHED
                                            if case.name.startswith("mazur") else {})]}))
        return code
    if traces:
        print(walkthrough.render(case, traces, compact=args.compact))
    lines = ([f"not shown: {name}: {why}" for name, why in skipped.items()]
             + [f"FAIL: {name} raised: {why}" for name, why in errors.items()])
    if lines:
        print("\n" + "\n".join(lines))
    for name, why in errors.items():
        print(f"error: walkthrough: {name} raised on {case.name}: {why}", file=sys.stderr)
    return code


def export_command(args) -> int:
    from . import export
    out = Path(args.directory)
    cases = [_case_arg(c, args.max_memory) for c in args.cases] if args.cases else None
    if cases:
        _check_cost(cases, {"reference": None}, args.max_memory)
    with output.staged(out, _out_dir(out, "export")) as stage:
        written = export.export(stage, cases, progress=_progress(not args.quiet))
    print(f"wrote {len(written)} golden files, index.json and GOLDEN.md to {out}/")
    return EXIT_OK


def bench_command(args) -> int:
    from . import bench
    out = Path(args.out)
    impls, missing = _select(args.impl)
    with output.staged(out, _out_dir(out)) as stage:
        doc = bench.run(impls, quick=args.quick,
                        progress=_progress(not args.quiet and not args.json))
        doc["missing"] = missing
        (stage / "bench.json").write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc))
    else:
        print(bench.text_table(doc))
        print(f"saved to {out / 'bench.json'}; the main job's report includes it")
    return EXIT_OK


def scale_command(args) -> int:
    from . import scale
    impls, missing = _select(args.impl)
    for w, act, dtype, sched in itertools.product(args.width, args.activation, args.dtype,
                                                  args.schedule):  # refused before any work
        _check_cost([scale.grid_case(w, act, dtype, sched, args.updates, args.max_memory)],
                    impls, args.max_memory)
    rows = scale.measure(args.width, args.activation, args.dtype, args.schedule, args.updates,
                         impls, args.max_memory, _progress(not args.quiet and not args.json))
    if args.json:
        print(json.dumps({"rows": rows, "missing": missing}))
    else:
        print(scale.text_table(rows))
        for n, why in missing.items():
            print(f"not run: {n}: {why}")
    return EXIT_DISAGREE if any(r["verdict"].startswith("FAIL") for r in rows) else EXIT_OK


def figures_command(args) -> int:
    from . import figures
    try:
        doc, manifest = figures.load(args.report)
        values, accept = figures.compute(doc, manifest), figures.accepted(doc)
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"--report: no main job's results.json in {args.report} "
                         f"({type(e).__name__}: {e}); run `python -m comparisons` first")
    if not args.check and not args.update:
        for k, v in values.items():
            print(f"{k:<24} {figures.FIGURES[k].kind:<10} {v}")
    code = EXIT_OK
    for path in args.check:
        text = Path(path).read_text()
        for key, doc_value, measured in figures.differences(
                text, values, accept, kinds=(figures.EXACT, figures.REFERENCE)):
            print(f"{path}: {key}: documented {doc_value!r}, measured {measured!r}")
            code = EXIT_DISAGREE
        where = dict(figures.MARK.findall(text)).get("measured-on", "(not stated)")
        for key, doc_value, measured in figures.differences(text, values,
                                                             kinds=(figures.MEASURED,)):
            if key == "measured-on":
                continue
            print(f"{path}: {key}: documented {doc_value!r} (measured on {where.strip()}), "
                  f"here {measured!r}" + ("" if args.strict else
                                          ": a figure of the frameworks' kernels, not checked "
                                          "(--strict checks it)"))
            code = EXIT_DISAGREE if args.strict else code
    for path in args.update:
        Path(path).write_text(figures.update(Path(path).read_text(), values))
    return code


def frameworks_command(args) -> int:
    from . import figures, frameworks
    try:
        doc, manifest = figures.load(args.report)
    except (OSError, ValueError) as e:
        raise UsageError(f"--report: no main job's results.json in {args.report} "
                         f"({type(e).__name__}: {e}); run `python -m comparisons` first")
    errata = (Path(__file__).resolve().parent.parent / "ERRATA.md").read_text()
    page = frameworks.markdown(frameworks.rows(doc, manifest, errata),
                               figures.provenance(manifest))
    if args.update:
        Path(args.update).write_text(page)
    else:
        print(page)
    return EXIT_OK


def list_command(args) -> int:
    if args.impl:
        for impl in protocol.all_registered():
            why = impl.missing()
            print(f"{impl.name:<12} {impl.module:<16} {'ok' if not why else why:<10}  "
                  f"{impl.description}")
        return EXIT_OK
    for name in catalogue.names():
        c = catalogue.get(name)
        print(f"{name:<24} {c.dtype:<8} {str(c.layers):<18} {c.loss:<8} {c.reduction:<5} "
              f"{c.schedule:<13} {c.updates:>6} updates  {c.source}")
    return EXIT_OK


COMMANDS = {None: main_job, "run": run_command, "verify": verify_command,
            "conform": conform_command, "diagnose": diagnose_command,
            "walkthrough": walkthrough_command,
            "export": export_command, "bench": bench_command, "scale": scale_command,
            "figures": figures_command,
            "frameworks": frameworks_command,
            "list": list_command}


EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # the shell's 128 + SIGINT, 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is, so that it unwinds like Ctrl-C: workers
    ended, staged output removed."""


def _terminated(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    import signal
    import threading
    stdout = sys.stdout
    sys.stdout = output.PipeSafeStdout(stdout)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    try:
        args = _parse(argv)
        return COMMANDS[args.command](args)
    except (CaseError, UsageError, protocol.ProtocolError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except runner.OracleError as e:  # no verdict is possible: a failure, not bad input
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DISAGREE
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("error: terminated (SIGTERM); nothing was written", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        sys.stdout.flush()
        sys.stdout = stdout
