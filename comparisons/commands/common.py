"""What the commands share: their options, bad input as one line (UsageError, exit 2) before
any work, the selection of implementations, case arguments, progress and the exit status."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import time
from pathlib import Path

from comparisons import STARTED, catalogue, protocol
from comparisons.execution import runner
from comparisons.execution.runner import EXIT_DISAGREE, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE
from comparisons.protocol import devices
from comparisons.protocol.case import CaseError, check_memory, load_case
from comparisons.protocol.cost import DEFAULT_MAX_MEMORY, case_cost, parse_bytes
from comparisons.report import output

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


# --- Option types and options, each added only where it acts ---------------------------------

def size(text):
    try:
        return parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive(text):
    try:
        v = float(text)
    except ValueError:
        v = -1
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def positive_int(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return v


def world_size(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes >= 1, got {text!r}")
    return v


IMPL_HELP = ("implementations to judge: registered names (see `list --impl`) or module paths; "
             "the reference always runs (default: every registered one)")
MAX_MEMORY_HELP = ("refuse a case whose estimated memory exceeds SIZE "
                   f"(default {DEFAULT_MAX_MEMORY // 1024 ** 3}G; e.g. 8G, 500M)")
TIMEOUT_HELP = (f"seconds one implementation may take for one case "
                f"(default {runner.DEFAULT_TIMEOUT:g})")


def add_impl(p):
    p.add_argument("--impl", nargs="+", metavar="NAME", help=IMPL_HELP)


def add_max_memory(p, help_=MAX_MEMORY_HELP, dest=None):
    p.add_argument("--max-memory", type=size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                   help=help_, **({"dest": dest} if dest else {}))


def add_timeout(p, help_=TIMEOUT_HELP, dest=None):
    p.add_argument("--timeout", type=positive, default=runner.DEFAULT_TIMEOUT, metavar="S",
                   help=help_, **({"dest": dest} if dest else {}))


def add_run_limits(p):
    add_max_memory(p)
    add_timeout(p)


def add_world_size(p, dest_prefix=""):
    p.add_argument("--world-size", type=world_size, default=1, metavar="N",
                   dest=f"{dest_prefix}world_size",
                   help="also run every implementation that offers it data-parallel on N "
                        "processes, judged as an implementation of its own (default 1: none)")


def add_device(p, dest_prefix=""):
    p.add_argument("--device", default=devices.DEFAULT_DEVICE, metavar="DEVICE",
                   dest=f"{dest_prefix}device",
                   help="where the autodiff implementations run: cpu (default), cuda (alias "
                        "gpu); the reference always runs on the CPU")
    p.add_argument("--precision", default=devices.DEFAULT_PRECISION, metavar="MODE",
                   dest=f"{dest_prefix}precision",
                   help="float32 matrix products on accelerators: default (the framework's "
                        "own, possibly TF32) or highest; set for the run, restored after it")


def at_least_two(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number of updates >= 2 (the first "
                                         f"and the last), got {text!r}")
    return v


def add_probabilistic_updates(p, dest=None):
    p.add_argument("--probabilistic-updates", type=at_least_two, metavar="N",
                   **({"dest": dest} if dest else {}),
                   help="judge the probabilistic level on N updates of each trajectory judged "
                        "one step at a time, spread evenly from the first to the last, instead "
                        "of every update (cheaper; the updates left out are listed; the "
                        "worst-case level still judges every update)")


def add_quiet(p, dest=None):
    p.add_argument("--quiet", action="store_true", help="no progress on stderr",
                   **({"dest": dest} if dest else {}))


# --- Checks before any work -------------------------------------------------------------------

def device_options(args) -> dict:
    """The train options of --device/--precision, checked before any work (exit 2)."""
    try:
        device, precision = devices.check(args.device, args.precision)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return devices.train_options(device, precision)


MAX_RANKS_PER_CPU = 4  # gloo ranks share cores; beyond this a run only waits on the scheduler


def data_parallel(impls: dict, missing: dict, world_size: int, options: dict) -> tuple:
    """(impls, missing) with each implementation's data-parallel variant (`torch-dp3`) added
    for world_size > 1, or why it has none listed; bad input (exit 2) before any process
    starts. The dicts given are not changed."""
    impls, missing = dict(impls), dict(missing)
    if world_size == 1:
        return impls, missing
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
    return impls, missing


def select(names):
    """({name: Implementation}, {name: why not}) for the names given (default: every
    registered one); an unknown name is bad input."""
    try:
        return runner.select(names)
    except protocol.ProtocolError as e:
        raise UsageError(str(e)) from None


def case_arg(text, max_memory=DEFAULT_MAX_MEMORY):
    """A catalogue name or a case file, wherever a case is expected."""
    if text in catalogue.names():
        return catalogue.get(text)
    try:
        is_file = Path(text).suffix.lower() in (".json", ".toml") or Path(text).exists()
    except OSError:  # not a path this system accepts (a name too long, ...)
        is_file = False
    if is_file:
        return load_case(text, max_memory)
    shown = repr(text) if len(text) <= 80 else repr(text[:77]) + "..."
    close = difflib.get_close_matches(text, catalogue.names(), n=1) if len(text) <= 100 else []
    raise UsageError(f"case: {shown} is neither a catalogue case (see `python -m comparisons "
                     "list`) nor a .json/.toml case file"
                     + (f"; did you mean {close[0]!r}?" if close else ""))


def without_policy(case, command: str):
    """The case, or exit 2 where it has a reduced-precision policy, which `command` does not
    trace yet: its formulas would be shown in float32, unrounded, as if the policy were not
    there."""
    if case.precision is not None:
        name = case.precision.get("name") or "a policy of its own"
        raise UsageError(f"case: {case.name} has the reduced-precision policy {name}; "
                         f"`{command}` shows float32 and float64 formulas only, not where a "
                         f"policy rounds: judge it with `python -m comparisons run`")
    return case


def out_dir(out: Path, option: str = "--out") -> bool:
    """Check the output directory before any work (exit 2); True when this run created it
    (output.staged removes it again if the run is interrupted)."""
    try:
        return output.check_writable(out)
    except OSError as e:
        raise UsageError(f"{option}: cannot write to {out} "
                         f"({getattr(e, 'strerror', None) or e})") from None


def processes(case, impls, device: str = "cpu", precision: str = "default") -> int:
    """The implementation processes that judging `case` starts, as protocol.cost.Cost.memory
    counts them: one per implementation that runs it on `device` at `precision`, N per
    data-parallel variant; one that declares the case unsupported is listed and holds none of
    its arrays."""
    return max(1, sum(getattr(i, "world_size", 1) for n, i in impls.items()
                      if n != runner.ORACLE_NAME
                      and not (i is not None and i.unsupported(case, device, precision))))


def check_cost(cases, impls, max_memory, device: str = "cpu", precision: str = "default"):
    """Refuse, before any work, a case whose judging would need more than `max_memory`."""
    for c in cases:
        try:
            check_memory(case_cost(c), max_memory, processes(c, impls, device, precision),
                         len(runner.LOCAL_WORKERS))
        except CaseError as e:
            raise CaseError(f"{c.name}: {e}") from None


# --- While it runs and when it ends -----------------------------------------------------------

def progress(enabled):
    """A progress callback (i, n, text): one line on stderr, with the time since start."""
    def show(i, n, text):
        if enabled:
            print(f"[{i}/{n} {time.perf_counter() - STARTED:5.1f} s] {text}", file=sys.stderr,
                  flush=True)
    return show


def listed(missing: dict) -> str:
    """{name: why} as one line."""
    return "; ".join(f"{k}: {v}" for k, v in missing.items())


def incomplete(reason: str) -> int:
    """Say on stderr why nothing was compared; the exit status of that."""
    print(f"INCOMPLETE: {reason}", file=sys.stderr)
    return EXIT_INCOMPLETE
