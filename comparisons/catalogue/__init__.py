"""The case catalogue: one JSON case file per seed example, shipped inside the package."""

from __future__ import annotations

import difflib
from pathlib import Path

from comparisons.protocol.case import (ACTIVATIONS, LOSS_OUTPUT_ACTIVATIONS, LOSSES,
                                       PRECISION_POLICIES, REDUCTIONS, SCHEDULES, Case,
                                       CaseError, load_case, policy_label, training_features)

DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """Every catalogue case name, sorted."""
    return sorted(p.stem for p in DIR.glob("*.json"))


def path(name: str) -> Path:
    return DIR / f"{name}.json"


def get(name: str) -> Case:
    """Load one catalogue case by name."""
    p = path(name)
    if not p.exists():
        close = difflib.get_close_matches(name, names(), n=1)
        raise CaseError(f"case: unknown catalogue case {name!r}"
                        + (f" (did you mean {close[0]!r}?)" if close else "")
                        + f"; expected one of {', '.join(names())}")
    return load_case(p)


def all_cases() -> list[Case]:
    return [get(n) for n in names()]


# --- Coverage: which features of the case format the catalogue exercises ---------------------

def batching(c: Case) -> str:
    if c.batches is not None:
        return "an explicit batch order"
    bs = c.batch_size or c.m
    if bs == c.m:
        return "full batch"
    if bs == 1:
        return "SGD (one sample per update)"
    return "mini-batches with a short last batch" if c.m % bs else "mini-batches"


def features(c: Case) -> list[tuple[str, str]]:
    """(feature, value) pairs of one case."""
    family = {"half_sse": "regression", "mse": "regression"}.get(c.loss, c.loss)
    out = [("hidden activation", a) for a in sorted(set(c.activations[:-1]))]
    out += [("output activation", c.activations[-1]), ("loss × reduction", f"{c.loss} × {c.reduction}"),
            ("schedule × loss family", f"{c.schedule} × {family}"), ("batches", batching(c)),
            ("dtype", c.dtype)]
    if c.trainable is not None:
        out.append(("frozen parameters", "some"))
    if not c.plain:  # an optimizer, a schedule, decay or clipping (docs/CASES.md, "Optimizers")
        name = (c.optimizer or {"name": "sgd"})["name"]
        out.append(("optimizer × dtype", f"{name} × {c.dtype}"))
        out += [("training", f) for f in training_features(c)
                if not f.startswith("optimizer:") and f != "lr_schedule:constant"]
    if c.precision is not None:  # docs/CASES.md, "Reduced precision"
        out.append(("reduced precision", policy_label(c.precision)))
    return out


# The conventions of the optimizers, schedules and clipping the catalogue must run at least once
TRAINING = ("epsilon:outside", "epsilon:inside", "epsilon:hat", "velocity:lr_outside",
            "velocity:lr_inside", "nesterov", "dampening", "decay:coupled", "decay:decoupled",
            "decay_without_lr", "lr_schedule:step", "lr_schedule:cosine",
            "lr_schedule_offset:1", "clip")


def required() -> list[tuple[str, str]]:
    """Every (feature, value) a conformance catalogue must cover at least once."""
    outputs = sorted({a for acts in LOSS_OUTPUT_ACTIVATIONS.values() for a in acts})
    families = ("regression", "bce", "cce")
    return ([("hidden activation", a) for a in ACTIVATIONS if a != "softmax"]
            + [("output activation", a) for a in outputs]
            + [("loss × reduction", f"{l} × {r}") for l in LOSSES for r in REDUCTIONS]
            + [("schedule × loss family", f"{s} × {f}") for s in SCHEDULES for f in families]
            + [("batches", b) for b in ("full batch", "mini-batches with a short last batch",
                                        "SGD (one sample per update)")]
            + [("dtype", d) for d in ("float64", "float32")] + [("frozen parameters", "some")]
            + [("optimizer × dtype", f"{o} × {d}") for o in ("momentum", "adam", "adamw")
               for d in ("float64", "float32")]
            + [("training", f) for f in TRAINING]
            + [("reduced precision", p) for p in PRECISION_POLICIES])


def coverage() -> dict[tuple[str, str], list[str]]:
    """{(feature, value): [case names]} over the catalogue."""
    out: dict[tuple[str, str], list[str]] = {}
    for c in all_cases():
        for f in features(c):
            out.setdefault(f, []).append(c.name)
    return dict(sorted(out.items()))


def coverage_table() -> str:
    """The coverage as a Markdown table (docs/CASES.md, "The catalogue")."""
    lines = ["| feature | value | cases |", "|---|---|---|"]
    for (feature, value), names in coverage().items():
        lines.append(f"| {feature} | {value} | {', '.join(names)} |")
    return "\n".join(lines)
