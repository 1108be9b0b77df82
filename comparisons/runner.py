"""Run cases through implementations and judge parity: shared by every CLI command."""

from __future__ import annotations

import dataclasses
import importlib
import time

from .parity import RTOL, Comparison, amplification, compare_results

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
    kappa: float = 1.0

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
        return {"case": self.case, "pair": list(self.pair), "ok": self.ok, "kappa": self.kappa,
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


def _train_one(impl: str, case):
    """Worker-process entry: train `case` with one implementation; (result, seconds)."""
    mod = importlib.import_module(IMPL_MODULES[impl])
    t = time.perf_counter()
    result = mod.train(case)
    return result, time.perf_counter() - t


def run_all(cases, impls: dict, progress=None) -> tuple[dict, dict, dict]:
    """Every case through every implementation: ({case: {impl: result}}, {case: {impl: s}},
    {case: kappa}), kappa being the case's measured `amplification`.

    torch's eager runs cost most of the time and are bound by one core's Python speed, so
    when torch runs beside another implementation and there is a second core, all torch runs
    go to one spawned worker process while this process runs the others.
    """
    import os
    results = {c.name: {} for c in cases}
    seconds = {c.name: {} for c in cases}
    kappas = {}
    offload = "torch" in impls and len(impls) > 1 and (os.cpu_count() or 1) > 1
    futures = {}
    pool = None
    if offload:
        import concurrent.futures
        import multiprocessing
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        futures = {c.name: pool.submit(_train_one, "torch", c) for c in cases}
    try:
        for i, case in enumerate(cases, start=1):
            if progress:
                progress(i, len(cases), f"{case.name}: {', '.join(impls)}")
            local = {n: m for n, m in impls.items() if not (offload and n == "torch")}
            results[case.name], seconds[case.name] = run_case(case, local)
            ref = results[case.name].get("numpy") if case.dtype == "float64" else None
            kappas[case.name] = amplification(case, reference_result=ref)
        for case in cases:
            if case.name in futures:
                results[case.name]["torch"], seconds[case.name]["torch"] = \
                    futures[case.name].result()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    order = [n for n in IMPL_MODULES if n in impls]
    return ({k: {n: v[n] for n in order} for k, v in results.items()},
            {k: {n: v[n] for n in order} for k, v in seconds.items()}, kappas)


def judge(case, results: dict, kappa: float | None = None) -> list[PairVerdict]:
    """Every pair's comparison, trajectories judged with the case's measured amplification
    (measured here unless given)."""
    rtol = RTOL[case.dtype]
    if kappa is None:
        reference = results.get("numpy") if case.dtype == "float64" else None
        kappa = amplification(case, reference_result=reference)
    return [PairVerdict(case.name, (a, b), compare_results(results[a], results[b], rtol,
                                                           kappa=kappa), kappa)
            for a, b in pairs(results)]
