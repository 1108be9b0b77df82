"""The parity table and the main job's report directory: report.md, plots/*.png,
results.json, manifest.json.

Every row shows the measure that decides: the largest error of the pair in units of its own
bound (<= 1 passes) and the tensor where it occurs. Max rel and max ULP are information.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from comparisons import catalogue
from comparisons.judge.oracle import ORACLE_NAME
from comparisons.judge.verdict import ERROR, FAIL, PASS, SKIPPED, XFAIL, XPASS, summary
from comparisons.protocol import devices
from comparisons.protocol.cost import case_cost

from . import figures
from .bench import markdown_table as bench_table
from .output import dumps

# The worked example's published figures (seed 001 / Mazur 2015), for the report only:
# (label, case, getter, published, expected to match). The simultaneous rows are expected
# *not* to match: they show that the published trajectory is the sequential schedule's.
PUBLISHED = [
    ("out_o1 before training", "mazur-sequential", lambda r: r.initial_outputs[0, 0],
     "0.75136507", True),
    ("out_o2 before training", "mazur-sequential", lambda r: r.initial_outputs[1, 0],
     "0.772928465", True),
    ("E_total before training", "mazur-sequential", lambda r: r.losses[0], "0.298371109", True),
    ("∂E/∂w5", "mazur-sequential", lambda r: r.gradients["W2"][0, 0], "0.082167041", True),
    ("E_total after 1 update, sequential", "mazur-sequential", lambda r: r.losses[1],
     "0.291027924", True),
    ("E_total after 1 update, simultaneous", "mazur-simultaneous", lambda r: r.losses[1],
     "0.291027774", True),
    ("E_total after 10,000 updates, sequential", "mazur-sequential", lambda r: r.losses[-1],
     "0.000035085", True),
    ("out_o1 after 10,000, sequential", "mazur-sequential", lambda r: r.final_outputs[0, 0],
     "0.015912196", True),
    ("out_o2 after 10,000, sequential", "mazur-sequential", lambda r: r.final_outputs[1, 0],
     "0.984065734", True),
    ("E_total after 10,000 updates, simultaneous", "mazur-simultaneous",
     lambda r: r.losses[-1], "0.000035085", False),
    ("out_o1 after 10,000, simultaneous", "mazur-simultaneous",
     lambda r: r.final_outputs[0, 0], "0.015912196", False),
    ("out_o2 after 10,000, simultaneous", "mazur-simultaneous",
     lambda r: r.final_outputs[1, 0], "0.984065734", False),
]

KAPPA_TEXT = ("κ is the run's measured amplification of rounding: the float64 reference is "
              "run again with every update's output perturbed by 2⁻³⁶ times that update's own "
              "rounding bound (random signs), and κ is the largest response of the trajectory, "
              "final parameters and final outputs, in units of each value's own bound. "
              "Trajectories and final states are judged at (1 + κ) times their bound "
              "(TOLERANCES.md).")


def rounds_to(value: float, published: str) -> bool:
    return round(float(value), len(published.split(".")[1])) == float(published)


def published_rows(session) -> list[dict]:
    """Each published figure beside each implementation's float64 value, with a match flag."""
    out = []
    for label, case, get, pub, expected in PUBLISHED:
        runs = session.runs.get(case)
        if not runs or session.oracles[case].case.dtype != "float64":
            continue
        vals = {impl: float(get(r.result)) for impl, r in runs.items() if r.status == "ok"}
        matches = {i: rounds_to(v, pub) for i, v in vals.items()}
        out.append({"quantity": label, "case": case, "published": pub, "computed": vals,
                    "matches": matches, "expected": expected,
                    "as_expected": all(m == expected for m in matches.values())})
    return out


# --- The parity table --------------------------------------------------------------------

COLUMNS = ("case", "dtype", "pair", "error/bound", "at tensor", "error/p-bound", "κ", "info: max rel grad",
           "info: max ULP grad", "verdict")


INFO_LEGEND = ("error/p-bound: the largest error in units of the probabilistic bound "
               "(TOLERANCES.md, \"Two levels\"), which a correct pair exceeds with probability "
               "at most 1e-9; above 1 it fails the pair, with that probability in the note. "
               "info columns (never decide): max rel over the gradients' elements that stand "
               "above their own bound, – where none does (an exact 0 computed as 1e-17 has a "
               "relative error of 1 that measures nothing); max ULP over the same elements, of one sign, "
               "\"of\" the ULPs its bound allows there (a count far below its allowance is "
               "rounding, as where terms cancel).")


def table_rows(verdicts) -> list[tuple]:
    rows = []
    for v in verdicts:
        w = v.worst
        rel, ulp, allowed = v.info("d")
        judged = bool(v.judged)
        rows.append((v.case, f"{v.dtype} {v.policy}" if v.policy else v.dtype,
                     f"{v.pair[0]} vs {v.pair[1]}",
                     f"{w.worst_ratio:.3g}" if judged else "–",
                     w.name if judged else "–",
                     "–" if v.worst_p is None else f"{v.worst_p.p_ratio:.3g}",
                     f"{v.kappa:.3g}",
                     f"{rel:.2e}" if judged and rel == rel else "–",
                     (f"{ulp} of {allowed:.2g}" if ulp else "0") if judged else "–",
                     v.status if not v.not_judged or v.status != PASS
                     else f"pass ({len(v.not_judged)} not judged)"))
    return rows


def diagnose_command(v, source: str | None = None) -> str | None:
    """The command that localises a FAIL or xfail pair (comparisons/commands/diagnose.py), or
    None; `source`: the case file the pair's case came from, as the user named it (None for a
    catalogue case; a case of neither kind gets no command rather than a placeholder)."""
    a, b = v.pair
    if v.status not in (FAIL, XFAIL) or a == ORACLE_NAME:
        return None
    case = source or (v.case if v.case in catalogue.names() else None)
    if case is None:
        return None
    against = "" if b.startswith(ORACLE_NAME) else f" --against {b}"
    dtype = f" --dtype {v.dtype}" if source else ""
    return f"python -m comparisons diagnose {case} --impl {a}{against}{dtype}"


def _note(v, sources: dict) -> str:
    cmd = diagnose_command(v, sources.get(v.case))
    return v.message + (f" [diagnose: {cmd}]" if cmd else "")


def message_notes(verdicts, sources: dict | None = None) -> list[str]:
    """Each pair's message, one line per case and message: the pairs that share it named
    (three, then how many more)."""
    groups: dict[tuple, list] = {}
    for v in verdicts:
        if v.message:
            groups.setdefault((v.case, _note(v, sources or {})), []).append(v.pair)
    out = []
    for (case, note), pairs in groups.items():
        named = ", ".join(f"{a} vs {b}" for a, b in pairs[:3])
        more = f" (+{len(pairs) - 3} more pairs)" if len(pairs) > 3 else ""
        out.append(f"{case} {named}{more}: {note}")
    return out


def not_judged_notes(verdicts) -> list[str]:
    """What was not judged, one line per case and reason: the tensors, and the pairs when
    fewer than all of the case's share the reason."""
    groups: dict[tuple, tuple[dict, dict]] = {}
    per_case: dict[str, set] = {}
    for v in verdicts:
        per_case.setdefault(v.case, set()).add(v.pair)
        for r in v.not_judged:
            pairs, tensors = groups.setdefault((v.case, r.skipped), ({}, {}))
            pairs[v.pair] = None
            tensors[r.name] = None
    out = []
    for (case, why), (pairs, tensors) in groups.items():
        among = ("" if len(pairs) == len(per_case[case]) else
                 " in " + ", ".join(f"{a} vs {b}" for a, b in pairs) if len(pairs) <= 3 else
                 f" in {len(pairs)} of its {len(per_case[case])} pairs")
        out.append(f"{case}: {', '.join(tensors)} not judged{among}: {why}")
    return out


def text_table(verdicts, sources: dict | None = None) -> str:
    """The parity table, then its notes: each pair's message, and what was not judged
    (`not_judged_notes`). `sources`: {case name: the case file it came from} for the
    diagnose commands of cases not in the catalogue."""
    rows = table_rows(verdicts)
    widths = [max(len(str(x)) for x in col) for col in zip(COLUMNS, *rows)]
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    lines = [fmt(COLUMNS), "-" * len(fmt(COLUMNS))] + [fmt(r) for r in rows]
    notes = [f"  {line}" for line in message_notes(verdicts, sources or {})]
    notes += [f"  {line}" for line in not_judged_notes(verdicts)]
    if notes:
        lines += ["notes:"] + notes
    lines.append(INFO_LEGEND)
    return "\n".join(lines)


def markdown_table(verdicts) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in table_rows(verdicts):
        verdict = r[-1] if r[-1].startswith(("pass", "skipped")) else f"**{r[-1]}**"
        lines.append("| " + " | ".join(list(r[:-1]) + [verdict]) + " |")
    return "\n".join(lines)


def worst_of(verdicts, statuses=(PASS, XPASS)):
    """(ratio, verdict, tensor name) of the largest error/bound among the judged pairs of
    these statuses (a failure that is not a ratio, a shape or a divergence, counts as inf)."""
    best = None
    for v in verdicts:
        w = v.worst
        if w is not None and v.status in statuses and (best is None or w.worst_ratio > best[0]):
            best = (w.worst_ratio, v, w.name)
    return best


def _worst_text(label, w) -> str:
    return (f"; {label} {w[0]:.3g} ({w[1].case}, {w[1].pair[0]} vs {w[1].pair[1]}, {w[2]})"
            if w else "")


def verdict_line(session, published_ok: bool = True) -> str:
    """One line: PASS, FAIL or INCOMPLETE, with the counts and the names of what did not run
    (why, and how to install it: `not_run_lines`)."""
    counts = summary(session.verdicts)
    n = len(session.verdicts)
    parts = [f"{counts[PASS]} of {n} pairs agree"]
    parts += [f"{counts[s]} {s}" for s in (FAIL, ERROR, XFAIL, XPASS, SKIPPED) if counts[s]]
    missing = ", ".join(session.missing) + " (below)" if session.missing else ""
    if session.exit_code == 3:
        ran = [k for k in session.impls]
        return (f"INCOMPLETE: nothing was compared: only {', '.join(ran) or 'nothing'} ran"
                + (f"; not run: {missing}" if missing else "")
                + "; a verdict needs the reference and at least one other implementation")
    word = "PASS" if session.exit_code == 0 and published_ok else "FAIL"
    failing = worst_of(session.verdicts, (FAIL,))
    # a failure is quoted first, never hidden behind the worst pass
    tail = (_worst_text("worst failing error/bound", failing)
            + _worst_text("worst passing" if failing else "worst error/bound",
                          worst_of(session.verdicts)))
    if not published_ok:
        tail += "; a published figure is not as expected (see the report)"
    if missing:
        tail += f"; not run: {missing}"
    return f"{word}: {', '.join(parts)}{tail}"


def not_run_lines(session) -> list[str]:
    """One line per implementation that did not run: why, and what installs it."""
    return [f"not run: {k}: {v}" for k, v in session.missing.items()]


# --- The report directory ---------------------------------------------------------------

# The main job's report keeps each run's arrays where they are small: a case whose results
# block holds more numbers than this (the wide cases: 10 MB of JSON per implementation) keeps
# only its status and time, so that the catalogue's report stays under 20 MB. `run CASE
# --json` writes every number of one case, whatever its size.
REPORT_RESULT_ELEMENTS = 50_000


def result_elements(case) -> int:
    """The numbers a run's results block holds: losses, gradients and final parameters,
    initial and final outputs."""
    cost = case_cost(case)
    return (cost.updates + 1) + 2 * cost.parameters + 2 * case.layers[-1] * case.m


def runs_dict(runs: dict, case=None) -> dict:
    """{impl: its results and seconds, or its status and message} of one case's runs; with
    `case`, a run too large for the report (REPORT_RESULT_ELEMENTS) keeps its seconds and
    why its arrays are not there."""
    n = 0 if case is None else result_elements(case)
    omitted = {"results": f"not kept: {n} numbers; `python -m comparisons run "
                          f"{case.name} --json` writes them"} if n > REPORT_RESULT_ELEMENTS else None
    return {impl: ((omitted or r.result.to_dict()) | {"seconds": r.seconds})
            if r.status == "ok" else {"status": r.status, "message": r.message}
            for impl, r in runs.items()}


def run_document(case, session) -> dict:
    """The document `run --json` writes for one case (docs/CASES.md, "What run --json
    writes")."""
    code = session.exit_code
    return {"case": case.name, "dtype": case.dtype,
            "verdict": {0: "pass", 1: "fail", 3: "incomplete"}[code], "exit_code": code,
            "missing": session.missing, "kappa": session.oracles[case.name].kappa,
            "results": runs_dict(session.runs[case.name]),
            "parity": [v.to_dict() for v in session.verdicts]}


def training_seconds(out: Path) -> dict:
    """{implementation: total training seconds} of the report in `out`, or {} if none."""
    try:
        doc = json.loads((out / "results.json").read_text())
        totals: dict = {}
        for runs in doc["cases"].values():
            for impl, r in runs.items():
                totals[impl] = totals.get(impl, 0.0) + float(r.get("seconds") or 0.0)
        return totals
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


ORACLES_FILE = "oracles.pickle"


def write_oracles(out: Path, oracles: dict) -> None:
    """The run's oracles ({case name: judge.Oracle}: the float64 reference's run, bounds and
    kappa), for whoever judges more results of this very code against them (the test suite
    reads them when the report's digest is its own, instead of computing them again), but for
    the cases too large to keep results of (REPORT_RESULT_ELEMENTS), which can be recomputed.
    Trusted like the code that wrote them: a pickle, loaded only from a report this checkout
    wrote."""
    tmp = out / (ORACLES_FILE + ".tmp")
    small = {n: o for n, o in oracles.items()  # a large one is recomputed where it is needed
             if result_elements(o.case) <= REPORT_RESULT_ELEMENTS}
    tmp.write_bytes(pickle.dumps(small, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(out / ORACLES_FILE)


def device_matrix(session, manifest: dict) -> list[dict]:
    """Per implementation (against the reference) and dtype, at the run's device and precision:
    how many cases passed, the worst error/bound and where it is, and whether the TF32 note
    applies (a float32 failure at the default precision on a GPU)."""
    device = manifest.get("device", devices.DEFAULT_DEVICE)
    precision = manifest.get("precision", devices.DEFAULT_PRECISION)
    rows = []
    for impl in session.impls:
        if impl == ORACLE_NAME:
            continue
        for dtype in ("float64", "float32"):
            vs = [v for v in session.verdicts if v.pair[0] == impl and v.dtype == dtype
                  and v.pair[1].startswith(ORACLE_NAME)]  # the float64 oracle for float32
            if not vs:
                continue
            # the worst over what is judged strictly: a declared defect (xfail) is counted apart
            worst = max((v for v in vs if v.worst is not None and v.status not in (XFAIL, SKIPPED)),
                        default=None, key=lambda v: v.worst.worst_ratio)
            failing = sum(v.failing for v in vs)
            rows.append({"implementation": impl, "device": device, "precision": precision,
                         "dtype": dtype, "cases": len(vs), "failing": failing,
                         "xfail": sum(v.status == XFAIL for v in vs),
                         "worst_ratio": worst.worst.worst_ratio if worst else None,
                         "worst_at": f"{worst.case}, {worst.worst.name}" if worst else None,
                         "tf32_note": bool(failing and dtype == "float32" and device != "cpu"
                                           and precision == "default")})
    return rows


def write(out: Path, session, manifest: dict, bench: dict | None = None,
          plots=None) -> tuple[Path, bool]:
    """Write the report directory; returns (report.md, whether every published figure is as
    expected). `plots`: the plots.Plotter that drew the session's plots, or None."""
    out.mkdir(parents=True, exist_ok=True)
    pub = published_rows(session)
    published_ok = all(r["as_expected"] for r in pub)
    plot_files, plot_note = (plots.files, plots.note) if plots is not None else ({}, "")
    doc = {"verdict": "pass" if session.exit_code == 0 and published_ok else
           "incomplete" if session.exit_code == 3 else "fail",
           "exit_code": session.exit_code if published_ok or session.exit_code else 1,
           "verdict_line": verdict_line(session, published_ok),
           "implementations": list(session.impls), "digest": manifest.get("digest"),
           "missing": session.missing, "summary": summary(session.verdicts),
           "kappa": {n: o.kappa for n, o in session.oracles.items()},
           "sensitivity": {n: figures.sensitivity(o) for n, o in session.oracles.items()
                           if o.case.dtype == "float64"},
           "sensitivity_wide": figures.wide_sensitivities(session.oracles),
           "min_margin": {n: float(np.min(o.amp.bounds["margins"], initial=np.inf))
                          for n, o in session.oracles.items()},
           "cases": {c.name: runs_dict(session.runs[c.name], c) for c in session.cases},
           "parity": [v.to_dict() for v in session.verdicts], "published": pub,
           "device_matrix": device_matrix(session, manifest),
           # what judging cost, stated against the reference's own float64 runs
           "cost": {"wall_seconds": session.wall_seconds,
                    "reference_seconds": session.reference_seconds(),
                    "multiple_of_reference": session.reference_multiple()}}
    (out / "results.json").write_text(dumps(doc) + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    impls = list(session.impls)
    md = ["# backprop-parity report", "", f"**{verdict_line(session, published_ok)}**", "",
          "Each pair is judged element by element against the a-priori rounding bound of the "
          "formula that produced the element (TOLERANCES.md); *error/bound* is the largest "
          "error in those units (≤ 1 passes) and *at tensor* says where it is. Max rel and "
          "max ULP are given for information only.", ""]
    md += [f"- `{k}` was not run: {v}" for k, v in session.missing.items()]
    if plot_note:
        md.append(f"- {plot_note}")
    md += ["", "## The worked example's published figures", "",
           "Seed 001 (after Mazur 2015). A figure matches when the computed value rounds to it "
           "at its printed precision.", "",
           "| quantity | published | " + " | ".join(impls) + " | reproduced | expected |",
           "|---|---|" + "---|" * (len(impls) + 2)]
    for row in pub:
        vals = " | ".join(f"{row['computed'][i]:.9g}" if i in row["computed"] else "–"
                          for i in impls)
        got = "yes" if all(row["matches"].values()) else "no"
        exp = ("yes" if row["expected"] else "no") if row["as_expected"] else "**UNEXPECTED**"
        md.append(f"| {row['quantity']} | {row['published']} | {vals} | {got} | {exp} |")
    md += ["", "The published 0.291027924 and the 10,000-update figures are the *sequential* "
           "schedule's; textbook (simultaneous) gradient descent gives 0.291027774 after one "
           "update and does not reproduce them (ERRATA.md).", "",
           "## Parity table", "", markdown_table(session.verdicts), "", INFO_LEGEND, "",
           KAPPA_TEXT]
    notes = [f"- {v.case}, {v.pair[0]} vs {v.pair[1]}: {v.message}"
             + (f" Diagnose: `{diagnose_command(v)}`" if diagnose_command(v) else "")
             for v in session.verdicts if v.message]
    notes += [f"- {line}" for line in not_judged_notes(session.verdicts)]
    if notes:
        md += ["", "### Notes", ""] + notes
    matrix = doc["device_matrix"]
    md += ["", "## Device and precision", "",
           f"Autodiff implementations on `{manifest.get('device', 'cpu')}` at precision "
           f"`{manifest.get('precision', 'default')}`; the reference on the CPU. Each "
           "implementation against the reference:", "",
           "| implementation | device | precision | dtype | cases | failing | xfail | worst "
           "error/bound (not xfail) | at |", "|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['implementation']} | {r['device']} | {r['precision']} | {r['dtype']} | "
           f"{r['cases']} | {r['failing']} | {r['xfail']} | "
           + (f"{r['worst_ratio']:.3g}" if r["worst_ratio"] is not None else "–")
           + f" | {r['worst_at'] or '–'} |" for r in matrix]
    if any(r["tf32_note"] for r in matrix):
        md += ["", f"Expected: {devices.TF32_NOTE}."]
    multiple = session.reference_multiple()
    md += ["", "## Run time per case (s)", "",
           f"The session took {session.wall_seconds:.1f} s: "
           + (f"{multiple:.0f} x the reference's own float64 runs of the same updates, once "
              f"per implementation judged ({session.reference_seconds():.2f} s)." if multiple
              else "nothing was judged against the reference."), "",
           "| case | updates | " + " | ".join(impls) + " | κ run |",
           "|---|---|" + "---|" * (len(impls) + 1)]
    for c in session.cases:
        runs = session.runs[c.name]
        cells = [f"{runs[i].seconds:.3f}" if i in runs and runs[i].seconds is not None else
                 (runs[i].status if i in runs else "–") for i in impls]
        md.append(f"| {c.name} | {c.updates} | " + " | ".join(cells)
                  + f" | {session.oracles[c.name].kappa_seconds:.3f} |")
    if bench:
        md += ["", "## Benchmark (latest `python -m comparisons bench`)", "", bench_table(bench)]
    if plot_files:
        md += ["", "## Plots", ""]
        for name, rel in plot_files.items():
            md += [f"### {name}", "", f"![{name}]({rel})", ""]
    md += ["", "## Environment", "", "```", json.dumps(manifest, indent=2), "```", ""]
    path = out / "report.md"
    path.write_text("\n".join(md))
    return path, published_ok
