"""Worker processes: each implementation trains in a process of its own.

Why: the frameworks' thread pools and allocators do not share a process well (XLA, OpenMP and
OpenBLAS each keep spinning threads; one campaign crashed inside XLA's compiler with torch
loaded beside it), a plugin may crash or hang, and a long campaign's per-draw compilations
must not accumulate in one process. So:

- every run has a timeout; a run that exceeds it, or a worker that dies (a segmentation
  fault, an abort), is an error of that implementation, named with the cause, never a crash
  or a hang of the judge; the worker is started afresh for the next run;
- a worker is recycled after `max_tasks` runs or when its resident memory passes `max_rss`;
- thread pools are limited (`threads`, default 1) through the environment before the
  framework is imported, and a pool runs at most one training run per CPU at a time
  (`training_slots`); the others wait, their timeouts not started;
- no orphans: workers watch their parent and exit within a second of it; the pool stops them
  on exit, on error and on interrupt;
- within `warm_workers()` (a process that runs many sessions: the test suite, a notebook), a
  pool that closes normally hands its live workers back, and the next pool that asks for one
  with the same module, entry, threads and environment gets it already started: a
  framework's import is paid once per process, not once per session. The block's end stops
  every kept worker.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from comparisons.execution.conventions import measure
from comparisons.protocol.case import Case, case_from_dict
from comparisons.protocol.parts import batches_of, one_update, state_after
from comparisons.protocol.results import TrainResult, as_arrays, result_from

# Environment that limits every library's threads; set before the child starts.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0",
             "PYTHONWARNINGS": "ignore"}
STARTUP_TIMEOUT = 120.0


class WorkerError(RuntimeError):
    """A run failed in its worker: an exception, a timeout or the worker's death."""


class Unavailable(WorkerError):
    """The implementation cannot run here at all: a module it imports is not installed
    (ModuleNotFoundError while loading it, its per-formula modules, or in a run). Not a
    verdict about its numbers; every later task of its worker fails with the same error."""

    def __init__(self, error: str):
        self.error = error
        m = re.search(r"No module named '([^']+)'", error)
        self.module = m.group(1).split(".")[0] if m else None
        super().__init__(f"cannot import ({error})")


# The protocol's optional per-formula modules: loaded with the implementation, so that a
# module they import and this machine lacks is found before any case runs.
PROTOCOL_MODULES = ("activations", "losses", "network", "training")


class JSONConnection:
    """A Connection whose messages cross as JSON documents, for a worker under another
    interpreter (its own venv, its own NumPy major version): nothing pickled crosses. A case
    crosses as the case file's JSON (Case.to_dict, every float exact), a result as the `run
    --json` results block (TrainResult.to_dict, null for a non-finite value)."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def send(self, msg) -> None:
        self.conn.send_bytes(json.dumps(encode(msg), allow_nan=False).encode())

    def recv(self):
        return decode(json.loads(self.conn.recv_bytes()))

    def poll(self, timeout=None) -> bool:
        return self.conn.poll(timeout)

    def close(self) -> None:
        self.conn.close()


def encode(x):
    if isinstance(x, Case):
        return {"__case__": x.to_dict()}
    if isinstance(x, TrainResult):
        return {"__results__": x.to_dict()}
    if isinstance(x, dict) and set(x) == {"losses", "gradients", "final_params",
                                           "final_outputs", "initial_outputs"}:
        return {"__results__": TrainResult(**x).to_dict()}
    if isinstance(x, (list, tuple)):
        return [encode(v) for v in x]
    if isinstance(x, dict):
        return {k: encode(v) for k, v in x.items()}
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, np.generic):
        return x.item()
    return x


def decode(x):
    if isinstance(x, dict) and "__case__" in x:
        return case_from_dict(x["__case__"], max_memory=2 ** 62)  # checked by the judge
    if isinstance(x, dict) and "__results__" in x:
        return _arrays(x["__results__"])
    if isinstance(x, list):
        return [decode(v) for v in x]
    if isinstance(x, dict):
        return {k: decode(v) for k, v in x.items()}
    return x


def _arrays(block: dict) -> dict:
    """A results block as the fields of a TrainResult (float64 arrays, nan for null); shapes
    are judged by the comparer, which names any that differ."""
    def arr(v):
        return np.array([np.nan if e is None else e for e in np.ravel(np.array(v, dtype=object))],
                        dtype=np.float64).reshape(np.shape(np.array(v, dtype=object)))
    return {k: ({n: arr(a) for n, a in v.items()} if isinstance(v, dict) else arr(v))
            for k, v in block.items()}


def _as_dtype(x, dtype: str):
    if isinstance(x, list):
        return [_as_dtype(v, dtype) for v in x]
    if isinstance(x, dict):
        return {k: _as_dtype(v, dtype) for k, v in x.items()}
    return x.astype(dtype) if isinstance(x, np.ndarray) else x


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(70)
        time.sleep(0.5)


def trajectory(train, case, **options) -> list:
    """The implementation's run of `case`, one update at a time from its own parameters:
    one result per update (what `train` returns for that one-update case), for local judging
    (comparisons/judge/local.py). Runs in the implementation's worker. It ends early at an
    update whose parameters are no longer finite (no case starts from them): that result is
    the last."""
    batches, params, state, out = batches_of(case), case.params, case.initial_state, []
    for t in range(case.updates):
        r = result_from(as_arrays(train(one_update(case, params, t, batches, state), **options)))
        params, state = r.final_params, state_after(case, r, t)
        out.append(r)
        if not all(np.all(np.isfinite(np.asarray(v, dtype=np.float64)))
                   for v in params.values()):
            break
    return out


def _environment(mod, options: dict) -> dict:
    """The module's environment(**options), or environment() where it takes no options (a
    plugin that knows no device or precision), or {} where it has none."""
    fn = getattr(mod, "environment", None)
    if not callable(fn):
        return {}
    params = inspect.signature(fn).parameters.values()
    takes = {p.name for p in params} | ({"*"} if any(p.kind == p.VAR_KEYWORD for p in params)
                                        else set())
    return fn(**{k: v for k, v in options.items() if k in takes or "*" in takes})


def _one_cpu(mod) -> None:
    """Pin this worker to one CPU where its package asks for it (`WORKER_CPUS = 1`, before
    the framework is imported, so that its threads inherit it): MindSpore's runtime thread
    polls (sched_yield) while an op runs, and on a CPU of its own it took the other core."""
    if getattr(mod, "WORKER_CPUS", None) == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})


def _kink_conventions(module: str) -> list[str] | None:
    """relu'(0) and leaky_relu'(0) as the package's own activations compute them, for the
    manifest (docs/FRAMEWORKS.md reads them there); None where they could not be measured."""
    try:
        return measure(module, through_train=False)  # a training run here costs a compile
    except Exception:  # noqa: BLE001  (`frameworks` measures them in a process of its own)
        return None


def _worker_main(conn, module: str, entry: str, parent: int, env_options: dict) -> None:
    """The worker's loop (in the child): load the module, then run requests until told to
    stop or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it stops us
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    warnings.filterwarnings("ignore")
    try:
        mod = importlib.import_module(module)
        _one_cpu(mod)
        for sub in PROTOCOL_MODULES if hasattr(mod, "__path__") else ():
            if importlib.util.find_spec(f"{module}.{sub}") is not None:
                importlib.import_module(f"{module}.{sub}")
        fn = getattr(mod, entry)
        env = _environment(mod, env_options)
        if entry == "train" and hasattr(mod, "__path__"):
            env = dict(env, kink_conventions=_kink_conventions(module))
    except BaseException as e:  # noqa: BLE001  (reported, not raised)
        conn.send(("unavailable", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", env))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        _, args, options = msg
        t = time.perf_counter()
        try:  # a train entry returns framework arrays: sent as NumPy; any other, as it is
            if options.pop("_local", False):  # one update at a time (comparisons/judge/local.py)
                out = trajectory(fn, *args, **options)
            else:
                out = fn(*args, **options)
            if entry.startswith("train"):  # a list of results from a *_many entry
                payload = [as_arrays(x) for x in out] if isinstance(out, list) else as_arrays(out)
            else:
                payload = out
        except ModuleNotFoundError as e:  # this machine lacks a module: no verdict possible
            conn.send(("unavailable", f"{type(e).__name__}: {e}"))
            continue
        except BaseException as e:  # noqa: BLE001
            conn.send(("error", f"{type(e).__name__}: {e}".splitlines()[0][:500],
                       traceback.format_exc()[-4000:], _rss_bytes()))
            continue
        conn.send(("ok", payload, time.perf_counter() - t, _rss_bytes()))
        del msg, args, out, payload  # an idle worker holds no run while it waits


def child_environment(threads: int, extra: dict | None = None, foreign: bool = False) -> dict:
    """The environment of a worker: thread pools limited, framework log noise off. `foreign`:
    the worker runs another interpreter (an environment of its own)."""
    env = dict(os.environ)
    env.update({k: str(threads) for k in THREAD_ENV})
    env.update(QUIET_ENV)
    if threads == 1:
        # (only flags: XLA stops parsing at the first token that is not one)
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                            ).strip()
    # The child must import this package as the parent does (a source checkout included), and
    # a plugin from where the parent found it. Another interpreter keeps its own installed
    # packages: the parent's (its prefix) are left out. They were not, and MindSpore's worker
    # imported the main environment's NumPy 2 before its own NumPy 1.x.
    root = str(Path(__file__).resolve().parents[2])
    own = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths = [p for p in sys.path if p and os.path.isdir(p)
             and not (foreign and any(_within(p, o) for o in own))]
    env["PYTHONPATH"] = os.pathsep.join([root] + paths)
    extra = dict(extra or {})
    if "XLA_FLAGS" in extra:  # added to the thread flags above, not in their place
        extra["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + extra["XLA_FLAGS"]).strip()
    env.update(extra)
    return env


def _within(path: str, folder: str) -> bool:
    path = os.path.realpath(path)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


# Live workers kept for reuse, by Worker.key (None: reuse is off). See warm_workers().
_WARM: dict | None = None
_WARM_LOCK = threading.Lock()


@contextlib.contextmanager
def warm_workers():
    """Keep the workers of closed pools running for the next pool in this block (acquire);
    stop all of them at its end. Nested blocks share the outermost one's workers."""
    global _WARM
    with _WARM_LOCK:
        outer, _WARM = _WARM is not None, (_WARM if _WARM is not None else {})
    try:
        yield
    finally:
        if not outer:
            with _WARM_LOCK:
                kept, _WARM = _WARM, None
            stop_all([w for ws in kept.values() for w in ws])


def stop_all(workers) -> None:
    """Stop every worker in `workers`, their exits overlapping: each is asked first, then
    waited for (one after the other, each graceful stop waits up to 2 s for a framework's
    own teardown: 17 s for a test process's warm workers)."""
    workers = list(workers)
    for w in workers:
        w.ask_to_stop()
    for w in workers:
        w.stop()


def acquire(module: str, entry: str = "train", threads: int = 1, env: dict | None = None,
            environment: dict | None = None, **kw) -> "Worker":
    """A kept worker of this key that is still alive (within warm_workers()), else a new one
    (started by its first run or by a Pool)."""
    w = Worker(module, entry, threads, env, environment=environment, **kw)
    with _WARM_LOCK:
        while _WARM and _WARM.get(w.key):
            kept = _WARM[w.key].pop()
            if kept.alive:
                return kept
    return w


def release(w: "Worker") -> None:
    """Done with `w`: kept for the next acquire within warm_workers() when it is alive and
    idle, else stopped."""
    with _WARM_LOCK:
        if _WARM is not None and w.alive:
            kept = _WARM.setdefault(w.key, [])
            if not any(k is w for k in kept):
                kept.append(w)
            return
    w.stop()


class Worker:
    """One process that runs `module.entry(*args, **options)` on request."""

    def __init__(self, module: str, entry: str = "train", threads: int = 1,
                 env: dict | None = None, startup_timeout: float = STARTUP_TIMEOUT,
                 environment: dict | None = None, python: str | None = None):
        """`env`: extra environment variables of the process; `environment`: the options
        the module's environment() receives (the run's device and precision); `python`:
        another interpreter to run it under, which then speaks JSON (JSONConnection)."""
        self.module, self.entry, self.threads = module, entry, threads
        self.python = python
        self.env_options = dict(environment or {})
        self.extra_env = env or {}
        self.startup_timeout = startup_timeout
        self.proc = self.conn = None
        self.environment: dict = {}
        self.tasks = 0
        self.rss = 0
        self.restarts = 0
        self._asked = False  # asked to stop (ask_to_stop), not yet stopped
        self._lock = threading.Lock()

    @property
    def key(self) -> tuple:
        """What makes two workers interchangeable (acquire): the whole environment it starts
        with (a test's monkeypatched variable included), not only the extra variables."""
        env = child_environment(self.threads, self.extra_env, bool(self.python))
        env.pop("PYTEST_CURRENT_TEST", None)  # pytest's note of the test running, not a setting
        return (self.module, self.entry, json.dumps(env, sort_keys=True),
                json.dumps(self.env_options, sort_keys=True, default=str), self.python)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the process (`python -m comparisons.execution.workers`, not multiprocessing's
        spawn, which re-runs the parent's main script) and wait until its module is loaded."""
        ours, theirs = socket.socketpair()
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [self.python or sys.executable, "-m", "comparisons.execution.workers",
                 str(theirs.fileno()), self.module, self.entry, str(os.getpid()),
                 json.dumps(self.env_options)] + (["json"] if self.python else []),
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self.stderr,
                env=child_environment(self.threads, self.extra_env, bool(self.python)))
        finally:
            theirs.close()
        conn = Connection(ours.detach())
        self.conn, self.tasks = (JSONConnection(conn) if self.python else conn), 0
        msg = self._receive(self.startup_timeout, "starting")
        if msg[0] == "unavailable":
            self.stop()
            if msg[1].startswith("ModuleNotFoundError"):
                raise Unavailable(msg[1])
            raise WorkerError(f"cannot load {self.module}: {msg[1]}")
        self.environment = msg[1]

    def _receive(self, timeout: float, doing: str):
        try:
            ready = self.conn.poll(timeout)
        except (EOFError, OSError):
            ready = True
        if not ready:
            self.stop(graceful=False)
            raise WorkerError(f"timed out after {timeout:g} s {doing}")
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            try:
                code = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            tail = self._stderr_tail()
            self.stop()
            how = f"exit status {code}"
            if code is not None and code < 0:
                try:
                    how = f"signal {signal.Signals(-code).name}"
                except ValueError:
                    how = f"signal {-code}"
            raise WorkerError(f"the worker died {doing} ({how}){tail}") from None

    def _stderr_tail(self) -> str:
        """The last line the worker wrote to stderr, for the error message."""
        try:
            self.stderr.seek(0, os.SEEK_END)
            self.stderr.seek(max(0, self.stderr.tell() - 2000))
            lines = [x for x in self.stderr.read().decode(errors="replace").splitlines()
                     if x.strip()]
        except (OSError, AttributeError, ValueError):
            return ""
        return f": {lines[-1].strip()[:300]}" if lines else ""

    def run(self, *args, timeout: float, **options):
        """(result fields, seconds, rss); WorkerError on failure (the worker is restarted on
        the next call)."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self.restarts += 1
            self.start()
        self.conn.send(("run", args, options))
        msg = self._receive(timeout, "while training")
        self.tasks += 1
        if msg[0] == "unavailable":
            raise Unavailable(msg[1])
        if msg[0] == "error":
            self.rss = msg[3]
            raise WorkerError(msg[1])
        _, payload, seconds, self.rss = msg
        if self.python and args and hasattr(args[0], "dtype"):  # JSON numbers: the case's dtype
            payload = _as_dtype(payload, args[0].dtype)
        return payload, seconds, self.rss

    def ask_to_stop(self) -> None:
        """Ask an idle process to end, without waiting (stop() then waits for it)."""
        with self._lock:
            if self.proc is not None and self.proc.poll() is None and not self._asked:
                with contextlib.suppress(Exception):
                    self.conn.send(("stop",))
                    self._asked = True

    def stop(self, graceful: bool = True) -> None:
        """End the process: asked to stop when idle (graceful), else terminated, then
        killed."""
        with self._lock:
            self._stop(graceful)

    def _stop(self, graceful: bool) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            if graceful and self.proc.poll() is None:
                if not self._asked:
                    self.conn.send(("stop",))
                self.proc.wait(2)
        for end in (self.proc.terminate, self.proc.kill):
            if self.proc.poll() is None:
                with contextlib.suppress(Exception):
                    end()
                    self.proc.wait(3)
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.stderr.close()
        self.proc, self._asked = None, False


def training_slots() -> int:
    """How many training runs a Pool lets run at once: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity (macOS)
        return max(1, os.cpu_count() or 1)


class Pool:
    """One worker per key, each fed by a thread from its own queue; `submit` returns a
    Future of (result, seconds) that raises WorkerError on failure: a TrainResult for a
    `train` entry, else what the entry returned."""

    def __init__(self, workers: dict[str, Worker], timeout: float = 600.0,
                 max_tasks: int | None = None, max_rss: int | None = None):
        self.workers = workers
        self.timeout = timeout
        self.max_tasks, self.max_rss = max_tasks, max_rss
        # At most one training run per CPU at a time (the judge's own workers are not
        # counted). Every worker at once oversubscribed the cores: on 2 cores the main job's
        # 8 implementations took 342 s and 654 CPU-s, and with 2 slots 190 s and 366 CPU-s
        # (2026-12-03; the frameworks' thread pools and caches cost more, the more processes
        # share a core). A run's timeout starts when it has its slot.
        self._slots = threading.BoundedSemaphore(training_slots())
        self.queues = {k: queue.Queue() for k in workers}
        self.threads = [threading.Thread(target=self._serve, args=(k,), daemon=True,
                                         name=f"bp-pool-{k}") for k in workers]
        self.errors: dict[str, str] = {}
        self.peak_rss = {k: 0 for k in workers}
        # The workers start one at a time, in the order of `workers`, from a thread of their
        # own: a framework's import is CPU-heavy, and three at once on two cores made the
        # first ready only after 7.6 s instead of 2 s. started[key] is set when worker key has
        # started (or failed to: its first run then reports why).
        self.started = {k: threading.Event() for k in workers}
        self.start_errors: dict[str, WorkerError] = {}
        self._closing = False
        threading.Thread(target=self._start_all, daemon=True, name="bp-pool-start").start()
        for t in self.threads:
            t.start()

    def _start_all(self) -> None:
        for k, w in self.workers.items():
            try:
                if not self._closing and not w.alive:  # a kept worker (acquire) is running
                    w.start()
            except WorkerError as e:
                self.start_errors[k] = e
            except BaseException as e:  # noqa: BLE001  (reported by the first run)
                self.start_errors[k] = WorkerError(f"{type(e).__name__}: {e}")
            finally:
                self.started[k].set()

    def _serve(self, key: str) -> None:
        w, q = self.workers[key], self.queues[key]
        self.started[key].wait()
        if isinstance(self.start_errors.get(key), Unavailable):
            self._fail_all(key, q, self.start_errors[key])
            return
        if key in self.start_errors:  # the first task reports it; later ones retry
            item = q.get()
            if item is None:
                release(w)
                return
            if item[0].set_running_or_notify_cancel():
                item[0].set_exception(self.start_errors[key])
        self._serve_queue(key, w, q)

    def _serve_queue(self, key, w, q) -> None:
        while True:
            item = q.get()
            if item is None:
                release(w)
                return
            fut, args, options, timeout = item
            slot = self._slots if w.entry.startswith("train") else contextlib.nullcontext()
            with slot:
                # (closed while waiting for the slot: run nothing, so that no worker starts
                # again after close stopped it)
                if self._closing:
                    fut.cancel()
                    continue
                if not fut.set_running_or_notify_cancel():
                    continue
                unavailable = self._run(key, w, fut, args, options, timeout)
            if unavailable is not None:  # no later task can fare better: one error for all
                self._fail_all(key, q, unavailable)
                return

    def _run(self, key, w, fut, args, options, timeout) -> Unavailable | None:
        """One task on worker `w`, its outcome set on `fut`; the error when the worker's
        implementation cannot run here at all."""
        try:
            payload, seconds, rss = w.run(*args, timeout=timeout or self.timeout, **options)
            if w.entry.startswith("train"):
                payload = ([result_from(p) for p in payload] if isinstance(payload, list)
                           else result_from(payload))
            fut.set_result((payload, seconds))
        except Unavailable as e:
            fut.set_exception(e)
            return e
        except WorkerError as e:
            fut.set_exception(e)
        except BaseException as e:  # noqa: BLE001  (a pool thread never dies silently)
            w.stop()
            fut.set_exception(WorkerError(f"{type(e).__name__}: {e}"))
        self.peak_rss[key] = max(self.peak_rss[key], w.rss)
        if w.proc is not None and ((self.max_tasks and w.tasks >= self.max_tasks) or
                                   (self.max_rss and w.rss > self.max_rss)):
            w.stop()  # recycled: the next run starts a fresh process
        return None

    def _fail_all(self, key: str, q, error: Unavailable) -> None:
        """Every task of `key`, queued now or later, fails with `error` at once."""
        while True:
            item = q.get()
            if item is None:
                release(self.workers[key])
                return
            if item[0].set_running_or_notify_cancel():
                item[0].set_exception(error)

    def submit(self, key: str, *args, timeout: float | None = None, **options):
        fut = concurrent.futures.Future()
        self.queues[key].put((fut, args, options, timeout))
        return fut

    def close(self, wait: bool = True) -> None:
        """Stop every worker; with wait=False, runs in progress are killed at once."""
        self._closing = True
        for q in self.queues.values():
            with contextlib.suppress(Exception):
                while True:  # cancel what has not started
                    item = q.get_nowait()
                    if item is not None:
                        item[0].cancel()
        for q in self.queues.values():
            q.put(None)
        if not wait:
            for w in self.workers.values():
                w.stop(graceful=False)
        for t in self.threads:
            t.join(None if wait else 10)
        for w in self.workers.values():
            if wait and not any(t.is_alive() for t in self.threads):
                release(w)
            else:
                w.stop()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(wait=exc_type is None)


# python -m comparisons.execution.workers FD MODULE ENTRY PARENT_PID OPTIONS [json]
if __name__ == "__main__":
    _fd, _module, _entry, _parent, _options = sys.argv[1:6]
    _conn = Connection(int(_fd))
    _worker_main(JSONConnection(_conn) if sys.argv[6:] == ["json"] else _conn, _module, _entry,
                 int(_parent), json.loads(_options))
