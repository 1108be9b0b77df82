"""PyTorch's settings for a run, set and restored around it, and the stand-ins of its VJPs (not
a formula: not mirrored). Importing this module does not import torch."""

import contextlib


@contextlib.contextmanager
def precision_mode(precision="default"):
    """Set torch's float32 matrix-product switches for `precision` (comparisons/protocol/devices.py)
    and restore them after; yields the settings in effect."""
    import torch
    saved = (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    try:
        if precision == "highest":
            torch.set_float32_matmul_precision("highest")
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        yield {"mode": precision,
               "float32_matmul_precision": torch.get_float32_matmul_precision(),
               "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
               "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32}
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[1:]


_STAND_INS: dict = {}


def stand_in(role, shape, like, grad):
    """A zero tensor of `shape` with like's dtype and device, made once per role and reused
    (autograd reads it and never writes it): ~10 us less per VJP, a tenth of a small
    network's update. One per role: W and b of the same shape must be distinct leaves, or
    autograd.grad returns their summed gradient for both."""
    import torch
    key = (role, shape, like.dtype, like.device, grad)
    t = _STAND_INS.get(key)
    if t is None:
        if len(_STAND_INS) > 256:
            _STAND_INS.clear()
        t = _STAND_INS[key] = torch.zeros(shape, dtype=like.dtype, device=like.device,
                                          requires_grad=grad)
    return t
