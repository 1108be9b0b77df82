"""What a case asks of the machine, estimated from its description alone, before anything is
allocated: the sizes `--max-memory` is checked against (protocol.case.check_memory).

The estimate counts what judging holds, so the sizes of the judge's simulations live here
too: the probabilistic level's responses per value (K_SAMPLES at step 0, K_STEP per update)
and how many of them are stacked at once (GROUP_BYTES). comparisons/judge/noise.py runs them
with these very numbers; this module computes nothing of the judge.
"""

from __future__ import annotations

import dataclasses
import re

DEFAULT_MAX_MEMORY = 2 * 1024 ** 3
# A trajectory judged update by update travels in chunks of about this much (Cost.chunk_updates)
TRAJECTORY_CHUNK_BYTES = 16 * 2 ** 20
MAX_FILE_BYTES = 256 * 1024 ** 2

# The probabilistic level's sizes (comparisons/judge/noise.py, TOLERANCES.md "Two levels").
K_SAMPLES = 128      # responses per value at step 0 (noise.Level: the bound's factor from K)
K_STEP = 32          # responses per update where every update needs its own (local judging)
GROUP_BYTES = 256 * 2 ** 20  # the stacked evaluations of one group, about this much memory


def per_eval_bytes(parameters: int, layers, m: int, itemsize: int = 8) -> int:
    """The values one response (or the exact evaluation, itemsize 8) of a pass on m samples
    keeps alive."""
    return itemsize * (parameters + 6 * sum(layers) * m)


def group_size(parameters: int, layers, m: int, K: int, itemsize: int = 8) -> int:
    """How many responses to compute at once: about GROUP_BYTES of tangents alive, each of
    `itemsize` bytes (the dtype judged)."""
    return max(1, min(K, GROUP_BYTES // max(per_eval_bytes(parameters, layers, m, itemsize), 1)))


def tape_bytes(parameters: int, layers, m: int) -> int:
    """The tape of one evaluation (noise.measure): each matrix product's exact value (8
    bytes) and its event's size (at most 8), forward (A[l] sized) and backward (dW[l] and
    dA[l] sized)."""
    return 16 * (parameters + 2 * sum(layers) * m)


def stacked_bytes(parameters: int, layers, m: int, K: int, itemsize: int = 8) -> int:
    """The values alive while one group of responses is computed, beside the exact
    evaluation and the tape: the memory that K responses add to a process (Cost.memory)."""
    return (min(K, group_size(parameters, layers, m, K, itemsize))
            * per_eval_bytes(parameters, layers, m, itemsize)
            + per_eval_bytes(parameters, layers, m) + tape_bytes(parameters, layers, m))


@dataclasses.dataclass(frozen=True)
class Cost:
    """The size of a run, known before anything is allocated."""

    layers: tuple
    m: int
    updates: int
    max_batch: int
    batch_entries: int   # sample indices the batch order holds (0 when not materialised)

    @property
    def parameters(self) -> int:
        return sum(self.layers[l] * (self.layers[l - 1] + 1) for l in range(1, len(self.layers)))

    def run_bytes(self, m: int, updates: int) -> int:
        """The reference's float64 run on m samples: parameters and gradients x3, the data,
        Z, A, dZ, dA of every layer with their temporaries, the trajectory."""
        return 8 * (3 * self.parameters + (self.layers[0] + self.layers[-1]) * m
                    + 8 * sum(self.layers) * m + 2 * (updates + 1))

    @property
    def update_bytes(self) -> int:
        """One update's result as the judge receives it: gradients, parameters, A[L] before
        and after, the loss (float64)."""
        return 8 * (2 * self.parameters + 2 * self.layers[-1] * self.max_batch + 2)

    def chunk_updates(self) -> int:
        """Updates per chunk of a trajectory judged update by update (TRAJECTORY_CHUNK_BYTES)."""
        return max(1, min(self.updates, TRAJECTORY_CHUNK_BYTES // self.update_bytes))

    def memory(self, implementations: int = 4, judges: int = 2) -> int:
        """An upper estimate, in bytes, of the peak memory that judging the run adds to the
        processes of a run with `implementations` implementation processes and `judges` local
        judges (their imports aside; measured against in docs/PERFORMANCE.md):

        the oracle's worker: the reference's float64 run and the probabilistic level's stacked
            evaluations at step 0 (stacked_bytes, K_SAMPLES);
        each local judge: one update's run, its stacked evaluations (K_STEP) and two chunks of
            a trajectory (comparisons/judge/local.py);
        the judge's own process: two runs (the oracle's values and bounds, the float32
            reference), and per implementation its result and two chunks;
        each implementation's process: its run and two chunks (counted for every one, since
            a framework's allocator may keep what its last run used);
        and the batch order in each of them."""
        P, layers, mb = self.parameters, self.layers, self.max_batch
        run = self.run_bytes(self.m, self.updates)
        chunk = self.chunk_updates() * self.update_bytes if self.updates else 0
        oracle = run + stacked_bytes(P, layers, self.m, K_SAMPLES)
        judge = self.run_bytes(mb, 1) + stacked_bytes(P, layers, mb, K_STEP) + 2 * chunk
        main = 2 * run + (implementations + 1) * (self.update_bytes + 2 * chunk)
        each = run + 2 * chunk
        return (oracle + judges * judge + main + implementations * each
                + 8 * self.batch_entries * (1 + implementations))


def case_cost(c) -> Cost:
    """The Cost of a validated case (protocol.case.Case)."""
    return cost_of(c.layers, c.m, c.batch_size, c.epochs, c.shuffle_seed, c.batches)


def cost_of(layers, m, batch_size, epochs, shuffle_seed, batches) -> Cost:
    """The Cost of a run from its fields, before any array exists."""
    if batches is not None:
        sizes = [len(b) for b in batches]
        return Cost(tuple(layers), m, len(sizes), max(sizes), sum(sizes))
    bs = batch_size or m
    updates = epochs * -(-m // bs)
    full = shuffle_seed is None and bs == m
    return Cost(tuple(layers), m, updates, bs, 0 if full else epochs * m)


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB' (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def parse_bytes(text: str) -> int:
    """'2G', '512M', '1.5GiB', '100000' -> bytes (binary units)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", str(text).lower())
    if not m:
        raise ValueError(f"{text!r} is not a size such as 2G, 512M or 100000")
    return int(float(m.group(1)) * 1024 ** "_kmgt".index(m.group(2) or "_"))
