"""The reference's networks in PyTorch: forward passes in torch ops, every derivative from
torch.autograd (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training. float64 and float32;
CPU by default, `device=` for other devices. Global torch state (default dtype, threads)
is left untouched.
"""

from .training import train

__all__ = ["train"]
