"""Run cases through implementations and judge them: shared by every CLI command.

Each implementation but the reference trains in a worker process of its own
(workers.py), as many runs at once as there are CPUs, while this process computes the oracle
of every case (the float64 reference and its amplification kappa) and the reference's own runs.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import reference
from comparisons import judge, protocol
from comparisons.judge import local
from comparisons.judge.oracle import ORACLE_NAME, Oracle
from comparisons.judge.verdict import ERROR, SKIPPED, Run
from comparisons.protocol.parts import batches_of, chunk_updates, part, state_after

from .workers import Pool, Unavailable, WorkerError, acquire, trajectory

# The key of the oracles' worker in the pool: not a valid implementation name.
ORACLE_WORKER = " oracle"
LOCAL_WORKERS = (" local 1", " local 2")


class OracleError(RuntimeError):
    """The reference could not compute a case's oracle: nothing of that case can be judged."""


# Exit status of every command (README, `--help`).
EXIT_OK, EXIT_DISAGREE, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
DEFAULT_TIMEOUT = 600.0


@dataclasses.dataclass
class Session:
    """Everything one run of cases through implementations produced."""

    cases: list
    impls: dict            # name -> protocol.Implementation (selected and installed)
    missing: dict          # name -> why it did not run (not installed)
    oracles: dict          # case name -> judge.Oracle
    runs: dict             # case name -> {impl: judge.Run}
    verdicts: list         # judge.PairVerdict
    environments: dict     # impl -> its environment() as reported by its worker
    wall_seconds: float
    peak_rss: dict         # impl -> bytes

    @property
    def compared(self) -> int:
        return sum(1 for v in self.verdicts if v.judged or v.status == ERROR)

    @property
    def exit_code(self) -> int:
        if any(v.failing for v in self.verdicts):
            return EXIT_DISAGREE
        return EXIT_OK if self.compared else EXIT_INCOMPLETE

    def reference_seconds(self) -> float:
        """The reference's own float64 runs of the session's cases, each counted once per
        implementation judged against it (the unit the judge's cost is stated in)."""
        total = 0.0
        for c in self.cases:
            judged = sum(1 for v in self.verdicts if v.case == c.name
                         and v.pair[1].startswith(ORACLE_NAME) and v.judged)
            total += self.oracles[c.name].seconds * judged
        return total

    def reference_multiple(self, wall: float | None = None) -> float | None:
        """The wall time (default: the session's) as a multiple of `reference_seconds`: what
        judging costs against the reference's own float64 run, per implementation judged
        (None where nothing was judged)."""
        ref = self.reference_seconds()
        return (self.wall_seconds if wall is None else wall) / ref if ref > 0 else None

    def training_seconds(self) -> dict:
        """impl -> total seconds of its runs (the oracle's plain runs for the reference)."""
        out = {}
        for runs in self.runs.values():
            for name, r in runs.items():
                if r.seconds is not None:
                    out[name] = out.get(name, 0.0) + r.seconds
        return out


def select(names=None) -> tuple[dict, dict]:
    """({name: Implementation} to run, {name: why not}) for the requested names (default:
    every registered one). The reference is always selected: it is the oracle."""
    wanted = list(protocol.registered()) if not names else list(names)
    impls, missing = {}, {}
    for n in [ORACLE_NAME] + [x for x in wanted if protocol.ALIASES.get(x, x) != ORACLE_NAME]:
        impl = protocol.resolve(n)
        why = impl.missing()
        if why:
            missing[impl.name] = why
        else:
            impls[impl.name] = impl
    return impls, missing


def run(cases, impls: dict, missing: dict | None = None, *, options: dict | None = None,
        timeout: float = DEFAULT_TIMEOUT, progress=None, max_tasks=None, max_rss=None,
        oracles: dict | None = None, exitfirst: bool = False, judged_case=None,
        slowest_first: dict | None = None, probabilistic_updates: int | None = None) -> Session:
    """Every case through every implementation in `impls`, judged. `oracles`, a dict by case
    name, supplies oracles computed before and receives those computed here; `options` go to
    every implementation's train. With `exitfirst`, the session ends after the first case with
    a failing pair (the remaining runs are cancelled). `judged_case(oracle, runs)` is called
    as soon as each case is judged, while the later cases still run (the main job's plots).
    The workers start one by one; `slowest_first`, {impl: seconds} of an earlier run, puts
    the slowest first, so that the run's critical path starts soonest.
    `probabilistic_updates`: the probabilistic level of local judging on that many updates of
    each trajectory instead of every one (local.level2_updates)."""
    t0 = time.perf_counter()
    options = options or {}
    missing, impls = dict(missing or {}), dict(impls)
    missing_before = dict(missing)
    device = options.get("device", "cpu")
    precision = options.get("precision", "default")
    oracles = {} if oracles is None else oracles
    runs = {c.name: {} for c in cases}
    order = sorted((n for n in impls if n != ORACLE_NAME),
                   key=lambda n: -(slowest_first or {}).get(n, 0.0))
    # The oracles (the reference's float64 run, its bounds and kappa) are computed in a
    # worker of their own, started first, so that no case's oracle waits for another case's
    # runs, and the judging and plotting here never wait for an oracle's CPU time.
    workers = ({ORACLE_WORKER: acquire("comparisons.judge.oracle", "make_oracle")}
               if any(c.name not in oracles for c in cases) else {})
    # Local judging (comparisons/judge/local.py) of each implementation's trajectory, spread
    # over processes of their own while the implementations' workers idle
    workers.update({k: acquire("comparisons.judge.local", "judge_chunk") for k in LOCAL_WORKERS})
    workers.update({n: acquire(environment=options, **impls[n].worker()) for n in order})
    futures, local_futures = {}, {}
    pool = Pool(workers, timeout=timeout, max_tasks=max_tasks, max_rss=max_rss)
    try:
        for case in cases:
            for n, impl in impls.items():
                # the reference always runs on the CPU, where precision modes do not apply
                why = (impl.unsupported(case) if n == ORACLE_NAME
                       else impl.unsupported(case, device, precision))
                if why:
                    runs[case.name][n] = Run(n, SKIPPED, message=why)
                elif n != ORACLE_NAME:
                    dp = {"world_size": impl.world_size} if impl.world_size > 1 else {}
                    futures[case.name, n] = pool.submit(n, case, **options, **dp)
                    if local.always(case) and impl.world_size == 1:  # known before the oracle
                        local_futures[case.name, n] = pool.submit(
                            n, part(case, case.params, 0, chunk_updates(case)),
                            **options, _local=True)
        pending = {c.name: pool.submit(ORACLE_WORKER, c) for c in cases if c.name not in oracles}
        verdicts, judged = [], []
        for i, case in enumerate(cases, start=1):
            if case.name not in oracles:
                try:
                    oracles[case.name] = pending[case.name].result()[0]
                except WorkerError as e:
                    raise OracleError(f"{case.name}: the oracle (reference) failed: {e}") from None
            o = oracles[case.name]
            if ORACLE_NAME in impls and ORACLE_NAME not in runs[case.name]:
                runs[case.name][ORACLE_NAME] = reference_run(case, o)
            done = [f"reference {o.seconds:.2f} s + kappa {o.kappa_seconds:.2f} s"]
            for n in list(impls):
                if (case.name, n) in futures:
                    try:
                        runs[case.name][n] = r = collect(n, futures[case.name, n])
                    except Unavailable as e:  # not run, like one that is not installed
                        missing[n] = cannot_import(impls.pop(n), e)
                        for runs_of in runs.values():
                            runs_of.pop(n, None)
                        verdicts = [v for v in verdicts if n not in v.pair]
                        done.append(f"{n} cannot run here")
                        continue
                    done.append(f"{n} {r.seconds:.2f} s" if r.status == "ok" else f"{n} {r.status}")
            if set(missing) - set(missing_before) and not any(n != ORACLE_NAME for n in impls):
                break  # every implementation but the reference cannot run: nothing to compare
            if progress:
                progress(i, len(cases), f"{case.name}: {', '.join(done)}")
            ordered = {n: runs[case.name][n] for n in impls if n in runs[case.name]}
            expected = {n: impls[n].expected_failure(case) for n in ordered}
            trajectories = local_runs(pool, case, o, ordered, impls, options,
                                       {n: f for (c, n), f in local_futures.items()
                                        if c == case.name}, probabilistic_updates)
            new = judge.judge_case(o, ordered, {n: r for n, r in expected.items() if r},
                                   trajectories)
            verdicts += new
            judged.append(case)
            if judged_case is not None:
                judged_case(o, ordered)
            if exitfirst and any(v.failing for v in new):
                break
    except BaseException:
        pool.close(wait=False)
        raise
    pool.close(wait=len(judged) == len(cases))
    environments = {n: w.environment for n, w in workers.items()
                    if n in impls or n == ORACLE_WORKER}
    if ORACLE_NAME in impls:
        environments[ORACLE_NAME] = reference.environment()
    return Session(judged, impls, missing,
                   {c.name: oracles[c.name] for c in judged},
                   {c.name: runs[c.name] for c in judged}, verdicts, environments,
                   time.perf_counter() - t0, dict(pool.peak_rss))


def local_runs(pool, case, oracle, runs, impls, options, submitted,
               sample: int | None = None) -> dict:
    """{impl: its trajectory judged update by update (local.Judged), or the message of why
    there is none} for every implementation that ran, where the trajectory is judged update
    by update (`local.needed`); {} where it is not. `submitted`: {impl: future} of the first
    chunks submitted before the oracle was known; `sample`: the probabilistic level's updates
    (local.level2_updates; None: every one).

    A trajectory streams in chunks (protocol.cost.TRAJECTORY_CHUNK_BYTES): while the local
    workers judge one chunk of an implementation's trajectory (round robin; here when the pool
    has none), its worker runs the next from the parameters the chunk ended with. No process
    holds more than two chunks of a trajectory, whatever its length."""
    if not local.needed(oracle):
        for f in submitted.values():
            f.cancel()
        return {}
    names, out = [], {}
    for n, r in runs.items():
        if r.status != "ok" or (n == ORACLE_NAME and case.dtype == "float64"):
            continue
        if n != ORACLE_NAME and impls[n].world_size > 1:
            out[n] = "a data-parallel run is judged globally only"
        else:
            names.append(n)
    size, batches = chunk_updates(case), batches_of(case)
    limit = local.judged_updates(oracle)  # a diverging run: up to its edge
    judges = [k for k in LOCAL_WORKERS if k in pool.workers]
    state = {n: local.Judging(case, case.dtype, past_edge=local.past_the_edge(oracle),
                              sample=sample) for n in names}
    params = {n: case.params for n in names}
    states = {n: case.initial_state for n in names}  # the optimizer's, where it has one

    def run_part(n, start):
        piece = part(case, params[n], start, min(start + size, limit), batches, states[n])
        if n == ORACLE_NAME:  # the float32 reference, here

            def go():
                with np.errstate(all="ignore"):
                    return trajectory(reference.train, piece), 0.0
            return _Now(go)
        if start == 0 and n in submitted:
            return submitted[n]
        return pool.submit(n, piece, **options, _local=True)

    def judge_part(i, n, before, results):
        if judges:
            return pool.submit(judges[i % len(judges)], state[n], before, results)
        return _Now(lambda: (local.judge_chunk(state[n], before, results), 0.0))

    def judged(n, f):
        try:
            state[n] = f.result()[0]
        except WorkerError as e:
            raise OracleError(f"{case.name}: judging {n} update by update failed: {e}") from None

    running = {n: run_part(n, 0) for n in names}
    judging, done = {}, {n: 0 for n in names}
    try:
        while running:
            for i, n in enumerate(list(running)):
                try:
                    results = running.pop(n).result()[0][:limit - done[n]]  # not past the edge
                except (WorkerError, Unavailable) as e:
                    out[n] = f"its one-update runs failed: {e}"
                    judging.pop(n, None)
                    continue
                before, params[n] = params[n], results[-1].final_params
                done[n] += len(results)
                try:
                    states[n] = state_after(case, results[-1], done[n] - 1)
                except ValueError as e:
                    out[n] = f"its one-update runs failed: {e}"
                    judging.pop(n, None)
                    continue
                ended = not all(np.all(np.isfinite(v)) for v in params[n].values())
                if done[n] < limit and not ended:  # no case starts from non-finite parameters
                    running[n] = run_part(n, done[n])
                if n in judging:
                    judged(n, judging.pop(n))
                judging[n] = judge_part(i, n, before, results)
        for n, f in judging.items():
            judged(n, f)
    except BaseException:
        for f in list(running.values()) + list(judging.values()):
            f.cancel()
        raise
    for n in names:
        if n not in out:
            out[n] = local.Judged(state[n].rows())
    return out


class _Now:
    """A future whose work is done here, when its result is asked for."""

    def __init__(self, work):
        self.work = work

    def result(self):
        return self.work()

    def cancel(self):
        return False


def reference_run(case, oracle: Oracle) -> Run:
    """The reference as an implementation: in float64 its run is the oracle's; in float32
    it runs here, in float32, and is judged like any other."""
    if case.dtype == "float64":
        return Run(ORACLE_NAME, "ok", oracle.base, oracle.seconds)
    t = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            result = reference.train(case)
    except Exception as e:  # noqa: BLE001  (a verdict, not a crash)
        return Run(ORACLE_NAME, ERROR, message=f"{type(e).__name__}: {e}")
    return Run(ORACLE_NAME, "ok", result, time.perf_counter() - t)


def cannot_import(impl, error: Unavailable) -> str:
    """Why `impl` cannot run here, once, with what to install."""
    fix = (f"install it with `pip install {error.module}` (the usual package of module "
           f"{error.module!r}), or install {impl.name}'s package with the dependencies it "
           f"should declare: {impl.install}" if error.module else f"install: {impl.install}")
    return f"cannot import ({error.error}); {fix}"


def collect(name, future) -> Run:
    """The Run of an implementation from its worker's future (an error is a Run too)."""
    try:
        result, seconds = future.result()
    except Unavailable:
        raise
    except WorkerError as e:
        return Run(name, ERROR, message=str(e))
    return Run(name, "ok", result, seconds)
