"""PyTorch's settings for a run, set and restored around it (not a formula: not mirrored).
Importing this module does not import torch."""

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
