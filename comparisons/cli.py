"""`python -m comparisons`: the main job and the study tools.

    python -m comparisons                       every catalogue case, every implementation,
                                                parity table, report directory
    python -m comparisons run CASE_FILE [--json] [--impl ...] [--dtype ...]
    python -m comparisons walkthrough [CASE]    every intermediate of one pass, side by side
    python -m comparisons export DIR            golden vectors for other languages
    python -m comparisons bench [--json]        per-step timings against the frameworks
    python -m comparisons list                  the catalogue

Exit status: 0 when everything agrees, 1 on a parity failure, 2 on bad input (one line on
stderr, nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from reference.case import CaseError, load_case

from . import catalogue, runner


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message}")


def _common(suppress: bool) -> argparse.ArgumentParser:
    """Options valid before or after the subcommand (after it, they override)."""
    d = {"default": argparse.SUPPRESS} if suppress else {}
    c = _Parser(add_help=False)
    c.add_argument("--out", help="report directory (default: parity-report/)",
                   **(d or {"default": "parity-report"}))
    c.add_argument("--impl", nargs="+", choices=list(runner.IMPL_MODULES),
                   help="implementations to run (default: every installed one)",
                   **(d or {"default": None}))
    c.add_argument("--no-plots", action="store_true", help="skip the PNG plots", **d)
    c.add_argument("--quiet", action="store_true", help="no progress display", **d)
    return c


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m comparisons", parents=[_common(False)],
                description="backprop-parity: the NumPy reference against PyTorch and JAX. "
                            "Without a command: the main job (every catalogue case, every "
                            "installed implementation, parity table, report).")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    common = _common(True)
    r = sub.add_parser("run", parents=[common], help="run a case file through the implementations")
    r.add_argument("case_file")
    r.add_argument("--json", action="store_true", help="one JSON document on stdout")
    r.add_argument("--dtype", choices=["float64", "float32"], help="override the case's dtype")
    w = sub.add_parser("walkthrough", parents=[common],
                       help="every intermediate of one forward/backward pass")
    w.add_argument("case", nargs="?", default="mazur-sequential",
                   help="a catalogue name or a case file (default: mazur-sequential)")
    w.add_argument("--json", action="store_true")
    e = sub.add_parser("export", parents=[common], help="golden vectors for every catalogue case")
    e.add_argument("directory")
    b = sub.add_parser("bench", parents=[common],
                       help="per-step timings: reference vs torch vs jax")
    b.add_argument("--json", action="store_true")
    b.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    sub.add_parser("list", parents=[common], help="the catalogue cases")
    return p


def _progress(enabled):
    def show(i, n, text):
        if enabled:
            print(f"[{i}/{n}] {text}", file=sys.stderr, flush=True)
    return show


def _report_missing(missing):
    for name, why in missing.items():
        print(f"note: {name} skipped: {why}", file=sys.stderr)


def main_job(args) -> int:
    impls, missing = runner.available(args.impl)
    _report_missing(missing)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a directory")
    show = _progress(not args.quiet)
    names = catalogue.names()
    cases = [catalogue.get(n) for n in names]
    t0 = time.perf_counter()
    results, seconds, kappas = runner.run_all(cases, impls, progress=show)
    verdicts = [v for case in cases
                for v in runner.judge(case, results[case.name], kappas[case.name])]
    elapsed = time.perf_counter() - t0
    print(_table(verdicts))
    from . import manifest, report
    bench = _latest_bench(out)
    path, ok = report.write(out, results, verdicts, seconds, manifest.manifest("float64"),
                            missing, bench=bench, plots=not args.no_plots)
    print(f"{'PASS' if ok else 'FAIL'}: {sum(v.ok for v in verdicts)}/{len(verdicts)} "
          f"comparisons agree, published figures {'as expected' if ok else 'CHECK REPORT'}; "
          f"{len(cases)} cases in {elapsed:.1f} s; report: {path}")
    return 0 if ok else 1


def _latest_bench(out: Path):
    p = out / "bench.json"
    if p.exists():
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return None
    return None


def _table(verdicts) -> str:
    head = (f"{'case':<22} {'pair':<16} {'max rel grad':>13} {'max ULP':>8} "
            f"{'max rel traj':>13} {'kappa':>7} {'verdict':>8}")
    lines = [head, "-" * len(head)]
    for v in verdicts:
        lines.append(f"{v.case:<22} {v.pair[0] + ' vs ' + v.pair[1]:<16} "
                     f"{v.grad_max_rel:>13.2e} {v.grad_max_ulp:>8d} {v.traj_max_rel:>13.2e} "
                     f"{v.kappa:>7.2g} {'ok' if v.ok else 'FAIL':>8}")
    return "\n".join(lines)


def _floats(a):
    import numpy as np
    return np.asarray(a, dtype=np.float64).tolist()


def run_command(args) -> int:
    case = load_case(args.case_file)
    if args.dtype:
        case = case.replace(dtype=args.dtype)
    impls, missing = runner.available(args.impl)
    if not impls:
        raise UsageError("--impl: none of the requested implementations is installed")
    results, seconds = runner.run_case(case, impls)
    verdicts = runner.judge(case, results)
    ok = all(v.ok for v in verdicts)
    if args.json:
        doc = {"case": case.name, "dtype": case.dtype, "verdict": "pass" if ok else "fail",
               "missing": missing,
               "results": {impl: {"losses": _floats(r.losses),
                                  "gradients": {k: _floats(v) for k, v in r.gradients.items()},
                                  "final_params": {k: _floats(v)
                                                   for k, v in r.final_params.items()},
                                  "final_outputs": _floats(r.final_outputs),
                                  "seconds": seconds[impl]}
                           for impl, r in results.items()},
               "parity": [v.to_dict() for v in verdicts]}
        print(json.dumps(_finite(doc)))
    else:
        _report_missing(missing)
        for impl, r in results.items():
            print(f"{impl:>6}: {len(r.losses) - 1} updates, loss {r.losses[0]:.9g} -> "
                  f"{r.losses[-1]:.9g} ({seconds[impl]:.3f} s)")
        if verdicts:
            print(_table(verdicts))
        print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _finite(o):
    """JSON has no NaN or infinity: a diverged run's non-finite values become null."""
    if isinstance(o, float):
        return o if o == o and abs(o) != float("inf") else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    return o


def _case_arg(text):
    if text in catalogue.names():
        return catalogue.get(text)
    if Path(text).suffix.lower() in (".json", ".toml") or Path(text).exists():
        return load_case(text)
    raise UsageError(f"walkthrough: {text!r} is neither a catalogue case "
                     f"({', '.join(catalogue.names())}) nor a case file")


def walkthrough_command(args) -> int:
    from . import walkthrough
    case = _case_arg(args.case)
    impls, missing = runner.available(args.impl)
    traces = {name: walkthrough.trace(mod, case) for name, mod in impls.items()}
    if args.json:
        print(json.dumps({"case": case.name, "rows": [
            {"quantity": k, "values": v, "published": p}
            for k, v, p in walkthrough.rows(traces, walkthrough.MAZUR_PUBLISHED
                                            if case.name.startswith("mazur") else {})]}))
    else:
        _report_missing(missing)
        print(walkthrough.render(case, traces))
    return 0


def export_command(args) -> int:
    from . import export
    out = Path(args.directory)
    if out.exists() and not out.is_dir():
        raise UsageError(f"export: {out} exists and is not a directory")
    written = export.export(out, progress=_progress(not args.quiet))
    print(f"wrote {len(written)} golden files, index.json and GOLDEN.md to {out}/")
    return 0


def bench_command(args) -> int:
    from . import bench
    impls, missing = runner.available(args.impl)
    doc = bench.run(impls, quick=args.quick, progress=_progress(not args.quiet and not args.json))
    doc["missing"] = missing
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc))
    else:
        print(bench.text_table(doc))
        print(f"saved to {out / 'bench.json'}; the main job's report includes it")
    return 0


def list_command(args) -> int:
    for name in catalogue.names():
        c = catalogue.get(name)
        print(f"{name:<22} {str(c.layers):<18} {c.loss:<8} {c.reduction:<5} {c.schedule:<13} "
              f"{len(c.batch_order()):>6} updates  {c.source}")
    return 0


COMMANDS = {None: main_job, "run": run_command, "walkthrough": walkthrough_command,
            "export": export_command, "bench": bench_command, "list": list_command}


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (CaseError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
