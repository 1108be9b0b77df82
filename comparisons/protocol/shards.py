"""How a data-parallel run splits each update's batch over N ranks or devices
(docs/DATA-PARALLEL.md): N contiguous shards whose sizes differ by at most one, the larger
ones first, empty where the batch is smaller than N. One definition for every implementation's
data-parallel program, so that their runs split alike."""

from __future__ import annotations

import numpy as np


def shard(size: int, world_size: int, rank: int) -> slice:
    """The contiguous shard of `rank` among `size` samples."""
    q, r = divmod(size, world_size)
    start = rank * q + min(rank, r)
    return slice(start, start + q + (rank < r))


def padded(batches, world_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, weight), (updates, N, s): the sample indices of every update's N shards, each
    padded to the longest, s, with index 0 and weight 0 (a padded sample multiplies its loss by
    an exact 0), for a program that needs one shape for every device."""
    s = max([-(-len(b) // world_size) for b in batches] + [1])
    idx = np.zeros((len(batches), world_size, s), dtype=np.int64)
    weight = np.zeros(idx.shape)
    for u, b in enumerate(batches):
        for rank in range(world_size):
            part = np.asarray(b)[shard(len(b), world_size, rank)]
            idx[u, rank, :len(part)] = part
            weight[u, rank, :len(part)] = 1.0
    return idx, weight
