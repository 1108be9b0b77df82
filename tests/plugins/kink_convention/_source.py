"""Run one of the reference's modules as a module of this package (its relative imports then
resolve here, to this package's activations)."""

from pathlib import Path

import reference


def run_reference_module(name: str, namespace: dict) -> None:
    path = Path(reference.__file__).parent / f"{name}.py"
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102
