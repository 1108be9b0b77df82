"""The reference's networks in PyTorch: forward passes in torch ops, every derivative from
torch.autograd (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training. float64 and float32;
CPU by default, `device=` for other devices. Global torch state (default dtype, threads)
is left untouched. Importing this package does not import torch; `train` does.
"""

IMPLEMENTATION = {
    "name": "torch",
    "description": "PyTorch autograd, eager",
    "requires": ["torch"],
    "install": 'pip install -c constraints.txt -e ".[torch]"',
    "devices": ["cpu", "cuda"],
    "expected_failures": [{
        "case": "*", "loss": "bce", "tensors": ["losses*"], "strict": False,
        "reason": "torch's binary_cross_entropy_with_logits computes (1 - y) z - log_sigmoid(z) "
                  "(aten/src/ATen/native/Loss.cpp), which cancels for confident negatives "
                  "(y = 0, z << 0): the loss value's error is ~u|z| instead of ~u e^z "
                  "(relative 1.0 at z = -20 in float32, 2.9e-7 in float64; ERRATA.md). Its "
                  "gradient is computed separately, and is judged strictly"}],
}


def train(case, **options):
    """torch_impl.training.train (imported on first use)."""
    from .training import train as run
    return run(case, **options)


def environment() -> dict:
    """torch's version, threads and BLAS, for the manifest."""
    import torch
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "blas": "mkl" if torch.backends.mkl.is_available() else "other"}


__all__ = ["IMPLEMENTATION", "environment", "train"]
