"""The report's plots: per case, the loss trajectories and each implementation's per-step
difference from the reference in units of its bound (the line at 1 is where it would fail).

Trajectories of many updates per epoch (SGD, mini-batches) are drawn as per-epoch means, with
the raw steps faint behind them. Legends sit outside the axes, so they never hide a line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from comparisons.judge.oracle import ORACLE_NAME, oracle_label
from comparisons.judge.parity import first_nonfinite, loss_bounds

STYLES = ["-", "--", ":", "-."]
INSTALL = 'matplotlib is not installed: no plots (pip install -c constraints.txt -e ".[plot]")'


def _epoch_means(losses: np.ndarray, per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    n = (len(losses) - 1) // per_epoch
    x = np.arange(n) * per_epoch + (per_epoch - 1) / 2
    return x, losses[:n * per_epoch].reshape(n, per_epoch).mean(axis=1)


def plot_case(path: Path, oracle, runs: dict) -> tuple[float, float]:
    """The plot of one case: `oracle` its judge.Oracle, `runs` {implementation: judge.Run}.
    Returns the error panel's y limits, which hold every ratio drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case, name = oracle.case, oracle.case.name
    runs = {k: r for k, r in runs.items() if r.status == "ok"}
    # A fixed layout (the legend in a band below the axes): a constrained layout costs more
    # than the drawing, and the plots are drawn while the slowest implementation still runs.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5.0))
    fig.subplots_adjust(left=0.06, right=0.98, top=0.92, bottom=0.31, wspace=0.22)
    per_epoch = len(case.batch_order()) // max(case.epochs, 1) if case.batches is None else 1
    for i, (impl, r) in enumerate(runs.items()):
        losses = np.asarray(r.result.losses, dtype=np.float64)
        style = STYLES[i % len(STYLES)]
        if per_epoch > 1 and len(losses) > 200:
            ax1.plot(np.arange(len(losses)), losses, style, lw=0.5, alpha=0.25, color=f"C{i}")
            x, means = _epoch_means(losses, per_epoch)
            ax1.plot(x, means, style, lw=2.2 - 0.4 * i, color=f"C{i}",
                     label=f"{impl}, {case.dtype} (per-epoch mean)")
        else:
            ax1.plot(np.arange(len(losses)), losses, style, lw=2.6 - 0.5 * i, color=f"C{i}",
                     label=f"{impl}, {case.dtype}")
    ax1.set(title=f"{name} ({case.dtype}): loss", xlabel="update", ylabel="loss")
    finite = [np.asarray(r.result.losses)[np.isfinite(r.result.losses)] for r in runs.values()]
    if finite and all(f.size and np.all(f > 0) for f in finite):
        ax1.set_yscale("log")
    ref = oracle.base
    others = [k for k in runs if not (k == ORACLE_NAME and case.dtype == "float64")]
    n = first_nonfinite(ref.losses) or len(ref.losses)
    bound = loss_bounds(oracle.amp, case, case.dtype, "float64")[:n]
    ratios = {}
    for impl in others:
        losses = np.asarray(runs[impl].result.losses, dtype=np.float64)
        if losses.shape == ref.losses.shape:
            with np.errstate(all="ignore"):
                ratios[impl] = np.abs(losses[:n] - ref.losses[:n]) / bound
    # Every point is drawn: the axis reaches the largest ratio; an exact 0, which a log axis
    # cannot show, sits on the floor (v), a non-finite ratio on the ceiling (^)
    finite = [r[np.isfinite(r) & (r > 0)] for r in ratios.values()]
    finite = np.concatenate(finite) if finite else np.zeros(0)
    lo = min(1e-3, float(finite.min()) / 2) if finite.size else 1e-3
    hi = max(3.0, float(finite.max()) * 2) if finite.size else 3.0
    x = np.arange(n)
    against = f"{oracle_label(case.dtype)} (float64)"
    for impl, ratio in ratios.items():
        color = f"C{list(runs).index(impl)}"
        pos = np.isfinite(ratio) & (ratio > 0)
        ax2.plot(x[pos], ratio[pos], ".", ms=2.5, alpha=0.7, color=color,
                 label=f"{impl}, {case.dtype} vs {against}")
        zero, inf = ratio == 0, ~np.isfinite(ratio)
        if zero.any():
            ax2.plot(x[zero], np.full(int(zero.sum()), lo), "v", ms=3, color=color, alpha=0.5,
                     label=f"{impl}: exactly equal ({int(zero.sum())})")
        if inf.any():
            ax2.plot(x[inf], np.full(int(inf.sum()), hi), "^", ms=6, color=color,
                     label=f"{impl}: beyond any bound ({int(inf.sum())})")
    cut = _judged_until(oracle, n)
    last = max(len(ref.losses) - 1, 1)
    if cut < len(ref.losses):  # the losses after update cut - 1: the notes' "from update"
        ax2.axvspan(cut - 0.5, last, color="0.85", alpha=0.6,
                    label=f"from update {cut - 1}: not judged globally (the notes say why)")
    ax2.axhline(1.0, color="black", lw=1.2, label="bound (above it: FAIL)")
    ax2.axhline(lo, color="0.5", lw=0.8, ls=":",
                label="floor: an exact 0 is drawn here (v)")
    for ax in (ax1, ax2):  # both axes end at the last loss
        ax.set_xlim(-0.02 * last, last * 1.02)
    ax2.set(title="|difference| / bound per update (1 passes; every point drawn)",
            xlabel="update", ylabel="error / bound", yscale="log", ylim=(lo / 1.5, hi * 1.5))
    fig.legend(loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return ax2.get_ylim()


def _judged_until(oracle, n: int) -> int:
    """The number of losses the judge compares (comparisons.judge.parity.compare_results): up to a
    possible kink flip or the horizon, if either comes first."""
    flip, horizon = oracle.amp.flip_at, oracle.amp.bounds.get("horizon")
    for k in (flip, horizon):
        if k is not None:
            n = min(n, k + 1)
    return n


class Plotter:
    """Draws each case's plot as soon as the case is judged (`case`), so that plotting
    overlaps the runs still under way; `files` maps case names to paths relative to the
    report, `note` says why there are none (matplotlib not installed)."""

    def __init__(self, directory: Path):
        self.directory, self.files, self.note = directory, {}, ""
        self.limits: dict[str, tuple[float, float]] = {}  # the error panel's, per case
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            self.note = INSTALL

    def case(self, oracle, runs: dict) -> None:
        if self.note:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        name = oracle.case.name
        self.limits[name] = plot_case(self.directory / f"{name}.png", oracle, runs)
        self.files[name] = f"{self.directory.name}/{name}.png"
