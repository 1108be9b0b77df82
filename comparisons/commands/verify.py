"""`verify`: judge one implementation's results (the block `run --json` writes), from any
language, against the reference. The reference runs the case, measures kappa and the bounds
itself, and judges the block with the same comparer as the main job."""

from __future__ import annotations

from comparisons import judge, report
from comparisons.execution.runner import EXIT_DISAGREE, EXIT_OK
from comparisons.protocol.results import load_results
from comparisons.report import output

from . import common

HELP = ("judge one implementation's results (the block `run --json` writes), from any "
        "language, against the reference")


def add_arguments(p) -> None:
    p.add_argument("case", help="a catalogue name or a .json/.toml case file")
    p.add_argument("results", help="a JSON file: losses, gradients, final_params, final_outputs, "
                                   "initial_outputs (comparisons/GOLDEN.md)")
    p.add_argument("--dtype", choices=["float64", "float32"],
                   help="the dtype the results were computed in (default: the case's)")
    p.add_argument("--impl", metavar="NAME",
                   help="the block to take from a whole `run --json` document")
    p.add_argument("--name", default="results", help="the name in the verdict (default: results)")
    p.add_argument("--json", action="store_true", help="the verdict as JSON on stdout")
    common.add_max_memory(p, "refuse a case whose estimated memory exceeds SIZE")
    common.add_quiet(p)


def verify(case, results, impl: str | None = None, name: str = "results"):
    """(exit status, the oracle, the verdicts) of the results block in the file `results`
    (the block named `impl` of a whole `run --json` document) against the reference."""
    result = load_results(results, case, impl)
    oracle = judge.make_oracle(case)
    verdicts = judge.judge_case(oracle, {name: judge.Run(name, "ok", result)})
    return (EXIT_DISAGREE if any(v.failing for v in verdicts) else EXIT_OK), oracle, verdicts


def command(args) -> int:
    case = common.case_arg(args.case, args.max_memory)
    if args.dtype:
        case = case.replace(dtype=args.dtype)
    common.check_cost([case], {}, args.max_memory)
    code, oracle, verdicts = verify(case, args.results, args.impl, args.name)
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
