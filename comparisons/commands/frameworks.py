"""`frameworks`: the framework parity table (docs/FRAMEWORKS.md), from a main job's report,
with each framework's kink conventions and what its mixed precision does (autocast) measured
in a process of its own."""

from __future__ import annotations

from pathlib import Path

from comparisons import protocol
from comparisons.execution import autocast
from comparisons.execution.conventions import kink_conventions
from comparisons.execution.runner import EXIT_OK
from comparisons.report import figures, frameworks

from .common import UsageError

HELP = ("the framework parity table (docs/FRAMEWORKS.md), from a main job's report, and what "
        "each framework's mixed precision does on this CPU")
ERRATA = Path(__file__).resolve().parent.parent.parent / "ERRATA.md"


def add_arguments(p) -> None:
    p.add_argument("--report", default="parity-report", metavar="DIR",
                   help="the main job's report directory (default: parity-report/)")
    p.add_argument("--update", metavar="FILE", help="write the page (docs/FRAMEWORKS.md)")


def page(report: str) -> str:
    """The page, from the main job's report directory `report`."""
    try:
        doc, manifest = figures.load(report)
    except (OSError, ValueError) as e:
        raise UsageError(f"--report: no main job's results.json in {report} "
                         f"({type(e).__name__}: {e}); run `python -m comparisons` first")
    return frameworks.markdown(frameworks.rows(doc, manifest, ERRATA.read_text(),
                                               kink_conventions),
                               figures.provenance(manifest), mixed_precision(doc))


def mixed_precision(doc: dict) -> list[str]:
    """The mixed-precision table's lines: each judged implementation that trains with its
    framework's own layers and offers model.autocast_policy, measured now, here."""
    results = {}
    for name in doc.get("implementations", []):
        impl = protocol.resolve(name)
        if impl.command or impl.missing() or not autocast.offered(impl.module):
            continue
        got = autocast.policy(impl)
        if got:
            results[name] = got
    return autocast.markdown(results) if results else []


def command(args) -> int:
    text = page(args.report)
    if args.update:
        Path(args.update).write_text(text)
    else:
        print(text)
    return EXIT_OK
