"""One implementation whose misbehaviour is chosen by the environment variable
BP_MISBEHAVE: raise, segfault, hang, sleep (2 s, then the reference's result), exit, garbage
(not a TrainResult), shape (a gradient of the wrong shape), dtype (float64 arrays for a
float32 case), nan (a non-finite gradient), drift (every final parameter off by 1e-9
relative), or nothing: the reference's own result."""

import ctypes
import os
import time

IMPLEMENTATION = {"name": "misbehaving", "description": "misbehaves on purpose (tests)"}


def environment():
    return {"misbehave": os.environ.get("BP_MISBEHAVE", "")}


def train(case, **options):
    import dataclasses

    import numpy as np

    import reference
    how = os.environ.get("BP_MISBEHAVE", "")
    if how == "raise":
        raise RuntimeError("deliberately broken")
    if how == "segfault":
        ctypes.string_at(0)
    if how == "hang":
        time.sleep(3600)
    if how == "sleep":
        time.sleep(2.0)
    if how == "exit":
        os._exit(3)
    if how == "garbage":
        return {"losses": []}
    r = reference.train(case)
    if how == "shape":
        return dataclasses.replace(r, gradients=dict(r.gradients, W1=r.gradients["W1"][:, :1]))
    if how == "dtype":
        return dataclasses.replace(r, losses=r.losses.astype(np.float64))
    if how == "nan":
        g = r.gradients["W1"].copy()
        g[0, 0] = np.nan
        return dataclasses.replace(r, gradients=dict(r.gradients, W1=g))
    if how == "drift":
        return dataclasses.replace(r, final_params={k: v * (1 + 1e-9)
                                                    for k, v in r.final_params.items()})
    return r
