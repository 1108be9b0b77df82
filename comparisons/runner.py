"""Run cases through implementations and judge parity: shared by every CLI command."""

from __future__ import annotations

import dataclasses
import importlib
import time

from .parity import RTOL, Comparison, compare_results

IMPL_MODULES = {"numpy": "reference", "torch": "torch_impl", "jax": "jax_impl"}
INSTALL_HINT = {"torch": 'pip install -c constraints.txt -e ".[torch]"',
                "jax": 'pip install -c constraints.txt -e ".[jax]"'}


def available(names=None) -> tuple[dict, dict]:
    """({name: package} importable, {name: reason} missing) for the requested impls."""
    ok, missing = {}, {}
    for name in names or IMPL_MODULES:
        try:
            ok[name] = importlib.import_module(IMPL_MODULES[name])
        except ImportError as e:
            missing[name] = f"{e.name or e} is not installed; {INSTALL_HINT.get(name, '')}".strip()
    return ok, missing


@dataclasses.dataclass
class PairVerdict:
    case: str
    pair: tuple[str, str]
    rows: list[Comparison]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def _grad_rows(self):
        return [r for r in self.rows if r.name.startswith("dW") or r.name.startswith("db")]

    @property
    def grad_max_rel(self) -> float:
        return max(r.max_rel for r in self._grad_rows())

    @property
    def grad_max_ulp(self) -> int:
        return max(r.max_ulp for r in self._grad_rows())

    @property
    def traj_max_rel(self) -> float:
        return next(r.max_rel for r in self.rows if r.name == "losses")

    @property
    def traj_max_ulp(self) -> int:
        return next(r.max_ulp for r in self.rows if r.name == "losses")

    def to_dict(self) -> dict:
        return {"case": self.case, "pair": list(self.pair), "ok": self.ok,
                "grad_max_rel": self.grad_max_rel, "grad_max_ulp": self.grad_max_ulp,
                "traj_max_rel": self.traj_max_rel, "traj_max_ulp": self.traj_max_ulp,
                "tensors": [dataclasses.asdict(r) | {"ok": r.ok} for r in self.rows]}


PAIRS = [("torch", "numpy"), ("jax", "numpy"), ("torch", "jax")]


def pairs(names) -> list[tuple[str, str]]:
    """The pairs among `names`: each autodiff side against numpy, then torch against jax."""
    return [(a, b) for a, b in PAIRS if a in names and b in names]


def run_case(case, impls: dict) -> tuple[dict, dict]:
    """({impl: TrainResult}, {impl: seconds})."""
    results, seconds = {}, {}
    for name, mod in impls.items():
        t = time.perf_counter()
        results[name] = mod.train(case)
        seconds[name] = time.perf_counter() - t
    return results, seconds


def judge(case, results: dict) -> list[PairVerdict]:
    rtol = RTOL[case.dtype]
    return [PairVerdict(case.name, (a, b), compare_results(results[a], results[b], rtol))
            for a, b in pairs(results)]
