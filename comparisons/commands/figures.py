"""`figures`: the measured figures the docs quote, from a main job's report: listed, checked
against the docs (--check) or written into them (--update). What each figure is, and which
hold on every machine, is comparisons/report/figures.py's."""

from __future__ import annotations

from pathlib import Path

from comparisons.execution.runner import EXIT_DISAGREE, EXIT_OK
from comparisons.report import figures

from .common import UsageError

HELP = "the measured figures the docs quote, from a main job's report"


def add_arguments(p) -> None:
    p.add_argument("--report", default="parity-report", metavar="DIR",
                   help="the main job's report directory (default: parity-report/)")
    p.add_argument("--check", nargs="+", metavar="FILE", default=[],
                   help="exit 1 if a figure in these files differs from the report")
    p.add_argument("--update", nargs="+", metavar="FILE", default=[],
                   help="rewrite the figures in these files from the report")
    p.add_argument("--strict", action="store_true",
                   help="with --check: also require the figures measured on the frameworks' "
                        "kernels to equal this report's (on the machine the file names)")


def load(report: str) -> tuple[dict, dict | None]:
    """(results.json, manifest.json) of a main job's report directory; bad input (exit 2)
    when there is none."""
    try:
        return figures.load(report)
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"--report: no main job's results.json in {report} "
                         f"({type(e).__name__}: {e}); run `python -m comparisons` first")


def check(path: str, values: dict, accept: dict, strict: bool = False) -> list[str]:
    """What differs between the figures quoted in the file `path` and `values`: one line per
    figure; a line that starts with 'FAIL ' counts (a figure that holds on every machine, or
    with `strict` any figure), the others are information."""
    text = Path(path).read_text()
    lines = []
    for key, doc_value, measured in figures.differences(
            text, values, accept, kinds=(figures.EXACT, figures.REFERENCE)):
        lines.append(f"FAIL {path}: {key}: documented {doc_value!r}, measured {measured!r}")
    where = dict(figures.MARK.findall(text)).get("measured-on", "(not stated)")
    for key, doc_value, measured in figures.differences(text, values, kinds=(figures.MEASURED,)):
        if key == "measured-on":
            continue
        line = (f"{path}: {key}: documented {doc_value!r} (measured on {where.strip()}), "
                f"here {measured!r}" + ("" if strict else ": a figure of the frameworks' "
                                        "kernels, not checked (--strict checks it)"))
        lines.append(("FAIL " if strict else "") + line)
    return lines


def command(args) -> int:
    doc, manifest = load(args.report)
    try:
        values, accept = figures.compute(doc, manifest), figures.accepted(doc)
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"--report: no main job's results.json in {args.report} "
                         f"({type(e).__name__}: {e}); run `python -m comparisons` first")
    if not args.check and not args.update:
        for k, v in values.items():
            print(f"{k:<24} {figures.FIGURES[k].kind:<10} {v}")
    code = EXIT_OK
    for path in args.check:
        for line in check(path, values, accept, args.strict):
            print(line.removeprefix("FAIL "))
            code = EXIT_DISAGREE if line.startswith("FAIL ") else code
    for path in args.update:
        Path(path).write_text(figures.update(Path(path).read_text(), values))
    return code
