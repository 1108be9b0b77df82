"""`python -m comparisons`: the parser, the table of commands and `main`. Every command's
behaviour lives in its module under comparisons/commands/ (`add_arguments`, `command`)."""

from __future__ import annotations

import argparse
import difflib
import os
import signal
import sys
import threading

from comparisons import protocol
from comparisons.execution import runner
from comparisons.execution.runner import EXIT_DISAGREE, EXIT_USAGE
from comparisons.protocol.case import CaseError
from comparisons.report import output

from .commands import (bench, conform, diagnose, export, figures, frameworks, listing, main_job,
                       run, scale, verify, walkthrough)
from .commands.common import EXIT_STATUS, UsageError

# The subcommands, in the order `--help` lists them: name -> module (HELP, add_arguments,
# command). The main job (no subcommand) is `main_job`.
COMMANDS = {"run": run, "verify": verify, "conform": conform, "diagnose": diagnose,
            "walkthrough": walkthrough, "export": export, "bench": bench, "scale": scale,
            "figures": figures, "frameworks": frameworks, "list": listing}
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # the shell's 128 + SIGINT, 128 + SIGTERM


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message}")


def parser() -> argparse.ArgumentParser:
    prog = ("backprop-parity" if os.path.basename(sys.argv[0] or "") == "backprop-parity"
            else "python -m comparisons")  # the console script, or the module
    p = _Parser(prog=prog, epilog=EXIT_STATUS, description=main_job.HELP, allow_abbrev=False,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    main_job.add_arguments(p)  # dest main_*: given with a command, they are an error (parse)
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_arguments(sub.add_parser(
            name, help=module.HELP, description=module.HELP, epilog=EXIT_STATUS,
            allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter))
    return p


def parse(argv):
    """The arguments of `argv`: a command's own, or the main job's (without their main_)."""
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra:  # named after the command they were given to, not the top level
        where = f"{p.prog} {args.command}" if args.command else p.prog
        close = [difflib.get_close_matches(x.split("=")[0], _options(p, args.command), n=1)
                 for x in extra if x.startswith("--")]
        guess = "".join(f"; did you mean {c[0]}?" for c in close if c)
        raise UsageError(f"{where}: unrecognized arguments: {' '.join(extra)}{guess}")
    defaults = vars(p.parse_args([]))
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


def _options(p, command) -> list[str]:
    """The long options of the command's parser (the top level's without a command)."""
    if command:
        p = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)
                 ).choices[command]
    return [o for a in p._actions for o in a.option_strings if o.startswith("--")]


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is, so that it unwinds like Ctrl-C: workers
    ended, staged output removed."""


def _terminated(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    stdout = sys.stdout
    sys.stdout = output.PipeSafeStdout(stdout)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    try:
        args = parse(argv)
        module = COMMANDS[args.command] if args.command else main_job
        return module.command(args)
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
