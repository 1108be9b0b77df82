"""`conform NAME`: the conformance suite for one implementation, fit for a framework's own CI.

It runs the whole catalogue (both dtypes), checks the worked example's published figures, and
runs a seeded property campaign, each case judged against the reference by the main job's
judge, and writes a conformance report (conformance.md, conformance.json) with a coverage table
(feature x result). Exit status: 0 everything judged agrees, 1 a disagreement or an error, 2
bad input, 3 the implementation cannot run here.

Expected failures come from the implementation's declaration and from an --xfail file;
--skip names cases not to run. Both files hold one entry a line, array-api-tests style:

    mazur-*            # why: a reason for every entry
    deep-relu:float32  # a case glob, optionally :DTYPE

The same checks run under pytest (`parametrize_with_checks`, docs/FRAMEWORK-AUTHORS.md).
"""

from __future__ import annotations

import atexit
import dataclasses
import fnmatch
import re
import sys
from pathlib import Path

from comparisons import catalogue, protocol, report
from comparisons.catalogue import campaign
from comparisons.execution import runner
from comparisons.execution.workers import Pool, Worker
from comparisons.judge.oracle import ORACLE_NAME, make_oracle
from comparisons.judge.verdict import FAILING, PASS, SKIPPED, XFAIL, XPASS, judge_case, summary
from comparisons.protocol.case import CaseError
from comparisons.report.output import dumps, staged

from . import common
from .common import UsageError

HELP = ("the conformance suite for one implementation: the catalogue, the published figures "
        "and a property campaign, with a report")


def add_arguments(p) -> None:
    p.add_argument("implementation", help="a registered name or a module path (mypkg.bp_impl)")
    p.add_argument("--examples", type=int, default=20, metavar="N",
                   help="drawn cases in the property campaign (default 20)")
    p.add_argument("--seed", type=int, default=0, help="the campaign's seed (default 0)")
    p.add_argument("--xfail", metavar="FILE",
                   help="expected failures: 'case-glob[:dtype]  # reason' a line")
    p.add_argument("--skip", metavar="FILE", help="cases not to run, in the same format")
    p.add_argument("--out", default="conform-report", metavar="DIR",
                   help="where conformance.md and conformance.json go (default: conform-report/)")
    common.add_timeout(p, "seconds the implementation may take for one case")
    common.add_device(p)
    common.add_world_size(p)
    common.add_quiet(p)


def command(args) -> int:
    if not 0 <= args.examples <= 10_000:
        raise UsageError(f"--examples: expected 0..10000, got {args.examples}")
    xfail = read_entries(args.xfail) if args.xfail else []
    skip = read_entries(args.skip) if args.skip else []
    impls, _ = common.select([args.implementation])  # bad names are bad input before any work
    options = common.device_options(args)
    if args.world_size > 1:
        impl = impls.get(protocol.resolve(args.implementation).name)
        if impl is not None and not impl.data_parallel:
            raise UsageError(f"--world-size: {impl.name} declares no data-parallel training")
        common.data_parallel(impls, {}, args.world_size, options)  # checked before any work
    out = Path(args.out)  # created only once every argument is known to be good
    with staged(out, common.out_dir(out)) as stage:
        doc, code = conform(args.implementation, examples=args.examples, seed=args.seed,
                            xfail=xfail, skip=skip, timeout=args.timeout, options=options,
                            world_size=args.world_size, progress=common.progress(not args.quiet))
        write(stage, doc, out)
    path = out / "conformance.md"
    if "missing" in doc:
        common.incomplete(f"{doc['implementation']} cannot run here: {doc['missing']}")
        return code
    for name in doc.get("failing_cases", {}):
        print(f"failing drawn case {name}: re-run with {rerun_command(doc, name, out)}",
              file=sys.stderr)
    for name, cmd in diagnose_commands(doc, out).items():
        print(f"{name}: diagnose with: {cmd}")
    counts = ", ".join(f"{v} {k}" for k, v in doc["summary"].items() if v)
    print(f"{doc['verdict'].upper()}: {doc['implementation']}: {counts}; report: {path}")
    return code


_ENTRY = re.compile(r"^\s*([^\s#:]+)(?::(float32|float64))?\s*#\s*(\S.*)$")


@dataclasses.dataclass(frozen=True)
class Entry:
    case: str
    dtype: str | None
    reason: str

    def matches(self, case) -> bool:
        return fnmatch.fnmatchcase(case.name, self.case) and self.dtype in (None, case.dtype)


def read_entries(path) -> list[Entry]:
    """An --xfail or --skip file: `case-glob[:dtype]  # reason` a line; blank lines and lines
    that start with # are ignored; an entry without a reason is bad input."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CaseError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    out = []
    for i, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _ENTRY.match(line)
        if not m:
            raise CaseError(f"{path}:{i}: expected 'case-glob[:float32|float64]  # reason', "
                            f"got {line.strip()[:60]!r}")
        out.append(Entry(*m.groups()))
    return out


def with_xfails(impl: protocol.Implementation, entries: list[Entry]) -> protocol.Implementation:
    """The declaration with the file's expected failures added (they come first)."""
    extra = tuple(protocol.ExpectedFailure(e.case, e.reason, e.dtype) for e in entries)
    return dataclasses.replace(impl, expected_failures=extra + impl.expected_failures)


def suite(examples: int, seed: int) -> list:
    """The cases of a conformance run: the catalogue, then the campaign's draws."""
    return catalogue.all_cases() + campaign.cases(examples, seed)


def conform(name: str, *, examples: int = 20, seed: int = 0, xfail=None, skip=None,
            timeout: float = runner.DEFAULT_TIMEOUT, progress=None, options=None,
            world_size: int = 1):
    """(document, exit status) of a conformance run of the implementation `name`; `options`
    (device, precision) go to its train. With world_size > 1, of its data-parallel variant
    (the caller has checked that it offers one)."""
    impl = protocol.resolve(name)
    why = impl.missing()
    if why:
        return {"implementation": impl.name, "missing": why}, runner.EXIT_INCOMPLETE
    impl = with_xfails(impl, xfail or [])
    if world_size > 1:
        impl = impl.data_parallel_variant(world_size)
    cases = suite(examples, seed)
    skipped = {c.name: e.reason for c in cases for e in (skip or []) if e.matches(c)}
    run_cases = [c for c in cases if c.name not in skipped]
    session = runner.run(run_cases, {ORACLE_NAME: protocol.resolve(ORACLE_NAME),
                                     impl.name: impl}, timeout=timeout, progress=progress,
                          options=options)
    if impl.name in session.missing:  # it cannot import here: reported once, nothing judged
        return ({"implementation": impl.name, "missing": session.missing[impl.name]},
                runner.EXIT_INCOMPLETE)
    mine = [v for v in session.verdicts if v.pair[0] == impl.name]
    published = [dict(r, computed=r["computed"].get(impl.name),
                      matches=r["matches"].get(impl.name)) for r in report.published_rows(session)]
    published_ok = all(r["matches"] == r["expected"] for r in published if r["matches"] is not None)
    status = {v.case: v.status for v in mine} | {n: SKIPPED for n in skipped}
    doc = {
        "implementation": impl.name, "module": impl.module,
        "environment": session.environments.get(impl.name, {}),
        "summary": summary(mine) | {"skipped by --skip": len(skipped)},
        "coverage": coverage(status),
        "published": published,
        "verdicts": [v.to_dict() for v in mine],
        "skipped": skipped,
        "campaign": {"examples": examples, "seed": seed},
        # every failing drawn case, as a case file to re-run (write() puts them beside the report)
        "failing_cases": {c.name: c.to_dict() for c in run_cases
                          if c.name.startswith("campaign-") and status.get(c.name) in FAILING},
    }
    failing = any(v.failing for v in mine) or not published_ok
    code = runner.EXIT_DISAGREE if failing else (runner.EXIT_OK if mine else
                                                  runner.EXIT_INCOMPLETE)
    doc["exit_code"] = code
    doc["verdict"] = {0: "pass", 1: "fail", 3: "incomplete"}[code]
    return doc, code


def coverage(status: dict) -> list[dict]:
    """Feature x result over the catalogue: for every feature the conformance catalogue
    must cover, how many of its cases passed, failed, were expected to fail or skipped."""
    cov = catalogue.coverage()
    rows = []
    for feature, value in catalogue.required():
        counts = {}
        for name in cov.get((feature, value), []):
            s = status.get(name, "not run")
            counts[s] = counts.get(s, 0) + 1
        rows.append({"feature": feature, "value": value, "results": counts})
    return rows


def markdown(doc: dict, out: Path | None = None) -> str:
    """conformance.md; `out`: the report directory as the user named it (the commands it
    quotes run from where the user stands)."""
    if "missing" in doc:
        return f"# Conformance: {doc['implementation']}\n\nNot run: {doc['missing']}\n"
    s = doc["summary"]
    md = [f"# Conformance: {doc['implementation']} (`{doc['module']}`)", "",
          f"**Verdict: {doc['verdict'].upper()}**: " + ", ".join(f"{v} {k}" for k, v in s.items() if v),
          "", "Every case is judged against the reference, element by element within its "
          "a-priori rounding bound (TOLERANCES.md).", "", "## Coverage", "",
          "| feature | value | results |", "|---|---|---|"]
    for row in doc["coverage"]:
        res = ", ".join(f"{n} {k}" for k, n in sorted(row["results"].items())) or "not covered"
        md.append(f"| {row['feature']} | {row['value']} | {res} |")
    md += ["", "## Published figures (seed 001, after Mazur 2015)", "",
           "| quantity | published | computed | reproduced | expected |", "|---|---|---|---|---|"]
    for r in doc["published"]:
        if r["computed"] is not None:
            md.append(f"| {r['quantity']} | {r['published']} | {r['computed']:.9g} | "
                      f"{'yes' if r['matches'] else 'no'} | {'yes' if r['expected'] else 'no'} |")
    md += ["", "## Cases", "", "| case | dtype | error/bound | at tensor | κ | verdict |",
           "|---|---|---|---|---|---|"]
    for v in doc["verdicts"]:
        ratio = "–" if v["worst_ratio"] is None else f"{v['worst_ratio']:.3g}"
        md.append(f"| {v['case']} | {v['dtype']} | {ratio} | {v['worst_tensor'] or '–'} | "
                  f"{v['kappa']:.3g} | {v['status']} |")
    notes = [f"- {v['case']}: {v['message']}" for v in doc["verdicts"] if v["message"]]
    notes += [f"- {n}: skipped (--skip): {why}" for n, why in doc["skipped"].items()]
    if notes:
        md += ["", "## Notes", ""] + notes
    md += ["", f"Campaign: {doc['campaign']['examples']} drawn cases, seed "
           f"{doc['campaign']['seed']}.", ""]
    failing = diagnose_commands(doc, out)
    if failing:
        md += ["## Where each failure starts", "", "`diagnose` names the first update, formula "
               "and element that leave their bound (run from where `conform` ran):", ""]
        md += [f"- {name}: `{cmd}`" for name, cmd in failing.items()]
        md.append("")
    if doc.get("failing_cases"):
        md += ["## Failing drawn cases", "", "Each is a case file beside this report; the "
               "command re-runs it, and `diagnose` localises it:", ""]
        md += [f"- `{rerun_command(doc, name, out)}`" for name in doc["failing_cases"]]
        md.append("")
    return "\n".join(md)


def diagnose_commands(doc: dict, out: Path | None = None) -> dict[str, str]:
    """{case (dtype): the `diagnose` command that localises it} for every failing or xfail
    case: a catalogue case by name, a drawn one by its file under `out`."""
    found = {}
    for v in doc.get("verdicts", []):
        if v["status"] not in (*FAILING, XFAIL):
            continue
        name = v["case"]
        if name in doc.get("failing_cases", {}):
            case = case_file(name, out)
        elif name in catalogue.names():
            case = name
        else:
            continue
        dtype = "" if name not in catalogue.names() or catalogue.get(name).dtype == v["dtype"] \
            else f" --dtype {v['dtype']}"
        found[f"{name} ({v['dtype']})"] = (f"python -m comparisons diagnose {case} "
                                           f"--impl {doc['module']}{dtype}")
    return found


def failing_case_path(name: str) -> str:
    return f"failing-cases/{name}.json"


def rerun_command(doc: dict, name: str, out: Path | None = None) -> str:
    """The command that re-runs a failing drawn case from its file (relative to the report
    directory, or under `out`)."""
    return f"python -m comparisons run {case_file(name, out)} --impl {doc['module']}"


def case_file(name: str, out: Path | None = None) -> str:
    """A failing drawn case's file: relative to the report directory, or under `out`."""
    return failing_case_path(name) if out is None else str(Path(out) / failing_case_path(name))


def write(out: Path, doc: dict, shown_as: Path | None = None) -> Path:
    """The report directory `out` (conformance.md, .json, failing-cases/); `shown_as`: the
    directory as the user named it, when `out` is where it is staged."""
    out.mkdir(parents=True, exist_ok=True)
    for name, case in doc.get("failing_cases", {}).items():
        path = out / failing_case_path(name)
        path.parent.mkdir(exist_ok=True)
        path.write_text(dumps(case, indent=1) + "\n")
    (out / "conformance.json").write_text(dumps(doc, indent=1) + "\n")
    path = out / "conformance.md"
    path.write_text(markdown(doc, shown_as or out))
    return path


# --- pytest --------------------------------------------------------------------------------

class ExpectedFailureError(AssertionError):
    """A check failed within what the implementation declares it may fail (pytest xfail)."""


@dataclasses.dataclass
class Check:
    """One conformance check of an implementation: a case judged against the reference."""

    implementation: str
    case: object
    expected: object = None   # the matching protocol.ExpectedFailure, if any

    @property
    def id(self) -> str:
        return self.case.name

    def __call__(self):
        impl = protocol.resolve(self.implementation)
        oracle = make_oracle(self.case)
        run = runner.collect(impl.name, _pool(impl).submit(impl.name, self.case))
        runs = {ORACLE_NAME: runner.reference_run(self.case, oracle), impl.name: run}
        verdicts = judge_case(oracle, runs, {impl.name: self.expected} if self.expected else {})
        v = next(v for v in verdicts if v.pair[0] == impl.name)
        if v.status == XFAIL:
            raise ExpectedFailureError(v.message)
        if v.status in FAILING:
            lines = [r.line() for r in v.rows if not r.ok and not r.skipped]
            raise AssertionError(f"{v.case} ({v.dtype}): {v.status}: {v.message}\n"
                                 + "\n".join(lines))
        assert v.status in (PASS, XPASS, SKIPPED), v.status


_POOLS: dict = {}


def _pool(impl):
    """One worker pool per implementation for a pytest session (stopped at exit)."""
    if impl.name not in _POOLS:
        _POOLS[impl.name] = Pool({impl.name: Worker(impl.module)}, timeout=runner.DEFAULT_TIMEOUT)
        atexit.register(_POOLS[impl.name].close)
    return _POOLS[impl.name]


def checks(implementation: str, examples: int = 10, seed: int = 0,
           cases: list[str] | None = None) -> list[Check]:
    impl = protocol.resolve(implementation)
    return [Check(implementation, c, impl.expected_failure(c)) for c in suite(examples, seed)
            if not impl.unsupported(c)
            and (cases is None or any(fnmatch.fnmatchcase(c.name, g) for g in cases))]


def parametrize_with_checks(implementation: str, examples: int = 10, seed: int = 0,
                            cases: list[str] | None = None):
    """A pytest decorator: one test per conformance check of `implementation` (a registered
    name or a module path), optionally only the cases matching the globs `cases`. A declared
    expected failure is an xfail with its reason (an unexpected pass is XPASS); a failure
    outside what the declaration names fails.

        from comparisons.conform import parametrize_with_checks

        @parametrize_with_checks("mypkg.bp_impl")
        def test_backprop_parity(check):
            check()
    """
    import pytest
    params = []
    for c in checks(implementation, examples, seed, cases):
        marks = ([pytest.mark.xfail(reason=c.expected.reason, strict=c.expected.strict,
                                    raises=ExpectedFailureError)] if c.expected else [])
        params.append(pytest.param(c, id=c.id, marks=marks))
    return pytest.mark.parametrize("check", params)
