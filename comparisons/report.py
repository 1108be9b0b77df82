"""The main job's report directory: report.md, plots/*.png, results.json, manifest.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .parity import RTOL

# The worked example's published figures (seed 001 / Mazur 2015), for the report only:
# (label, case, getter, published).
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


def rounds_to(value: float, published: str) -> bool:
    return round(float(value), len(published.split(".")[1])) == float(published)


def published_rows(results: dict) -> list[dict]:
    """Each published figure beside each implementation's value, with a match flag."""
    out = []
    for label, case, get, pub, expected in PUBLISHED:
        if case not in results:
            continue
        vals = {impl: float(get(r)) for impl, r in results[case].items()}
        matches = {i: rounds_to(v, pub) for i, v in vals.items()}
        out.append({"quantity": label, "case": case, "published": pub, "computed": vals,
                    "matches": matches, "expected": expected,
                    "as_expected": all(m == expected for m in matches.values())})
    return out


def plot_case(path: Path, name: str, results: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    styles = {"numpy": ("-", 3.0), "torch": ("--", 1.8), "jax": (":", 1.8)}
    for impl, r in results.items():
        ls, lw = styles.get(impl, ("-", 1))
        ax1.plot(np.arange(len(r.losses)), r.losses, ls, lw=lw, label=impl)
    ax1.set(title=f"{name}: loss trajectory", xlabel="update", ylabel="loss")
    if all(np.all(r.losses > 0) for r in results.values()):
        ax1.set_yscale("log")
    ax1.legend()
    impls = list(results)
    for i, a in enumerate(impls):
        for b in impls[i + 1:]:
            d = np.abs(results[a].losses.astype(np.float64) - results[b].losses)
            ax2.plot(np.arange(len(d)), np.where(d > 0, d, np.nan), ".", ms=1.5, alpha=0.6,
                     label=f"|{a} − {b}|")
    ax2.set(title="absolute difference per update (0 not drawn)", xlabel="update",
            ylabel="|Δ loss|", yscale="log")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fmt(x: float) -> str:
    return f"{x:.2e}"


def write(out: Path, results: dict, verdicts: list, seconds: dict, manifest: dict,
          missing: dict, bench: dict | None = None, plots: bool = True) -> tuple[Path, bool]:
    """Write the report directory; returns (path of report.md, overall verdict: parity and
    every published figure as expected)."""
    out.mkdir(parents=True, exist_ok=True)
    plot_dir = out / "plots"
    plot_notes = []
    if plots:
        try:
            import matplotlib  # noqa: F401
            plot_dir.mkdir(exist_ok=True)
            for name, rs in results.items():
                plot_case(plot_dir / f"{name}.png", name, rs)
        except ImportError:
            plot_notes.append("matplotlib is not installed: no plots "
                              '(pip install -c constraints.txt -e ".[plot]").')
    pub = published_rows(results)
    doc = {"verdict": all(v.ok for v in verdicts) and all(r["as_expected"] for r in pub),
           "rtol": RTOL, "missing": missing,
           "cases": {name: {impl: {"losses": r.losses.tolist(),
                                   "gradients": {k: v.tolist() for k, v in r.gradients.items()},
                                   "final_params": {k: v.tolist()
                                                    for k, v in r.final_params.items()},
                                   "final_outputs": r.final_outputs.tolist(),
                                   "seconds": seconds[name][impl]}
                            for impl, r in rs.items()} for name, rs in results.items()},
           "parity": [v.to_dict() for v in verdicts], "published": pub}
    (out / "results.json").write_text(json.dumps(doc, default=_json_default) + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    ok = doc["verdict"]
    md = ["# backprop-parity report", "",
          f"**Verdict: {'PASS' if ok else 'FAIL'}**: {sum(v.ok for v in verdicts)} of "
          f"{len(verdicts)} (case, pair) comparisons agree within rtol = 256 ε of the case's "
          f"dtype (TOLERANCES.md); {sum(r['as_expected'] for r in pub)} of {len(pub)} "
          "published figures behave as expected.", ""]
    for impl, why in missing.items():
        md.append(f"- `{impl}` was not run: {why}")
    md += plot_notes
    md += ["", "## The worked example's published figures", "",
           "Seed 001 (after Mazur 2015). A figure matches when the computed value rounds to it "
           "at its printed precision.", "",
           "| quantity | published | " + " | ".join(next(iter(results.values()), {}))
           + " | reproduced | expected |",
           "|---|---|" + "---|" * (len(next(iter(results.values()), {})) + 2)]
    for row in pub:
        vals = " | ".join(f"{v:.9g}" for v in row["computed"].values())
        got = "yes" if all(row["matches"].values()) else "no"
        md.append(f"| {row['quantity']} | {row['published']} | {vals} | {got} | "
                  f"{('yes' if row['expected'] else 'no') if row['as_expected'] else '**UNEXPECTED**'} |")
    md += ["", "The published 0.291027924 and the 10,000-update figures are the *sequential* "
           "schedule's; textbook (simultaneous) gradient descent gives 0.291027774 after one "
           "update and does not reproduce them (ERRATA.md).", "",
           "## Parity table", "",
           "| case | pair | max rel grad | max ULP grad | max rel trajectory | max ULP trajectory "
           "| κ | verdict |", "|---|---|---|---|---|---|---|---|"]
    for v in verdicts:
        md.append(f"| {v.case} | {v.pair[0]} vs {v.pair[1]} | {_fmt(v.grad_max_rel)} | "
                  f"{v.grad_max_ulp} | {_fmt(v.traj_max_rel)} | {v.traj_max_ulp} | "
                  f"{v.kappa:.2g} | {'ok' if v.ok else '**FAIL**'} |")
    md += ["", "κ is the run's measured amplification of a relative perturbation of its initial "
           "parameters; trajectories and final states are judged at rtol × max(1, κ) "
           "(TOLERANCES.md)."]
    md += ["", "## Run time per case (s)", "",
           "| case | updates | " + " | ".join(next(iter(seconds.values()), {})) + " |",
           "|---|---|" + "---|" * len(next(iter(seconds.values()), {}))]
    for name, s in seconds.items():
        n = len(next(iter(results[name].values())).losses) - 1
        md.append(f"| {name} | {n} | " + " | ".join(f"{t:.3f}" for t in s.values()) + " |")
    if bench:
        from .bench import markdown_table
        md += ["", "## Benchmark (latest `python -m comparisons bench`)", "",
               markdown_table(bench)]
    if plots and not plot_notes:
        md += ["", "## Plots", ""]
        for name in results:
            md += [f"### {name}", "", f"![{name}](plots/{name}.png)", ""]
    md += ["", "## Environment", "", "```", json.dumps(manifest, indent=2), "```", ""]
    path = out / "report.md"
    path.write_text("\n".join(md))
    return path, ok


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o).__name__)
