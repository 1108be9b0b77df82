"""What each framework's own mixed precision does to the operations these networks use, each
framework measured in a process of its own (some cannot share one: ERRATA.md), for
docs/FRAMEWORKS.md's mixed-precision table (issue #32). A package that trains with its
framework's own layers offers `model.autocast_policy(mode[, device])` (torch-nn:
torch.autocast; keras: the mixed_<mode> global policy; paddle-nn: paddle.amp.auto_cast);
JAX has no such mechanism (an operation computes in its inputs' dtype), and jax-optax none.

    python -m comparisons.execution.autocast torch_nn_impl [--device cuda] [--markdown]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import subprocess
import sys

from comparisons.protocol.devices import AUTOCAST_MODES, AUTOCAST_OPS


def offered(module: str) -> bool:
    """Whether the package `module` has a `model` module (its framework's own layers): the
    packages that can say what their framework's mixed precision does."""
    return importlib.util.find_spec(f"{module}.model") is not None


def measure(module: str, device: str = "cpu") -> dict:
    """In the child: {mode: {operation: class} or {"error": why}}; {} for a package whose
    model has no autocast_policy."""
    policy = getattr(importlib.import_module(f"{module}.model"), "autocast_policy", None)
    if policy is None:
        return {}
    out = {}
    for mode in AUTOCAST_MODES:
        try:
            out[mode] = policy(mode, device) if device != "cpu" else policy(mode)
        except Exception as e:  # noqa: BLE001  (a mode this build refuses: reported as such)
            out[mode] = {"error": (str(e).strip().splitlines() or [type(e).__name__])[0][:160]}
    return out


def policy(impl, device: str = "cpu", timeout: float = 300) -> dict:
    """`measure` of an implementation, in a process of its own."""
    proc = subprocess.run([impl.interpreter() or sys.executable, "-m",
                           "comparisons.execution.autocast", impl.module, "--device", device],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl.name}: its mixed precision could not be measured: "
                           f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> list[str]:
    """{name: measure's result} as table lines, a row per framework and mode."""
    lines = ["| implementation | mode | " + " | ".join(AUTOCAST_OPS) + " |",
             "|---|---|" + "---|" * len(AUTOCAST_OPS)]
    for name, modes in results.items():
        for mode, ops in modes.items():
            if "error" in ops:
                lines.append(f"| {name} | {mode} | {ops['error']} |"
                             + " |" * (len(AUTOCAST_OPS) - 1))
            else:
                lines.append(f"| {name} | {mode} | " + " | ".join(
                    {"low": "**low**"}.get(ops[o], ops[o]) for o in AUTOCAST_OPS) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m comparisons.execution.autocast",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("module", help="an implementation's package (torch_nn_impl, keras_impl, ...)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--markdown", action="store_true", help="the table's rows instead of JSON")
    a = p.parse_args(argv)
    got = measure(a.module, a.device)
    print("\n".join(markdown({f"{a.module} ({a.device})": got})) if a.markdown
          else json.dumps(got))
    return 0


if __name__ == "__main__":
    sys.exit(main())
