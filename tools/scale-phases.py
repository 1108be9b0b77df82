"""Where local judging's time goes: one update of [784, W, W, 10], m = W, one thread.

    python tools/scale-phases.py [W]          (default 1024; docs/PERFORMANCE.md quotes it)

Times, interleaved with torch's float32 update (the marginal cost of one more update:
(train of 6 updates - train of 1) / 5), the phases of judging one update of one
implementation (comparisons/judge/local.py): the reference's float64 one-update run, its
worst-case bound (comparisons.judge.bounds), the probabilistic level of the update (K = 32) and, once
per case, at step 0 (K = 128). Best of a few runs each; ratios to torch's update.
"""

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import reference  # noqa: E402
from comparisons.commands.scale import grid_case  # noqa: E402
from comparisons.judge import bounds, noise  # noqa: E402
from comparisons.judge.oracle import oracle_case  # noqa: E402


def best(f, n):
    out = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        f()
        out = min(out, time.perf_counter() - t)
    return out


def main(width: int) -> None:
    import torch

    import torch_impl
    torch.set_num_threads(1)
    case = lambda n: grid_case(width, "tanh", "float32", "simultaneous", n, 1 << 40)  # noqa
    sub = oracle_case(case(1))

    def traced():
        with bounds.context("float32"):
            bounds.train(sub)
    rows: dict[str, list] = {}
    with np.errstate(all="ignore"):
        for rnd in range(2):
            rows.setdefault("torch's float32 update", []).append(
                (best(lambda: torch_impl.train(case(6)), 2)
                 - best(lambda: torch_impl.train(case(1)), 2)) / 5)
            rows.setdefault("reference's float64 one-update run", []).append(
                best(lambda: reference.train(sub), 2))
            rows.setdefault("its worst-case bound", []).append(best(traced, 2))
            if rnd == 0:
                rows["probabilistic level, one update (K = 32)"] = [
                    best(lambda: noise.step_units(sub, "float32", 32), 1)]
                rows["probabilistic level, step 0 (K = 128)"] = [
                    best(lambda: noise.initial_units(sub, "float32"), 1)]
    t = min(rows["torch's float32 update"])
    print(f"[784, {width}, {width}, 10], m = {width}, float32, one thread")
    for k, v in rows.items():
        print(f"{k:<44} {min(v):9.3f} s {min(v) / t:9.1f}x torch")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
