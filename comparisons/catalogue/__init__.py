"""The case catalogue: one JSON case file per seed example, shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from reference.case import Case, load_case

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
        from reference.case import CaseError
        raise CaseError(f"case: unknown catalogue case {name!r}; expected one of "
                        f"{', '.join(names())}")
    return load_case(p)


def all_cases() -> list[Case]:
    return [get(n) for n in names()]
