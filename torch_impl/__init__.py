"""The reference's networks in PyTorch: forward passes in torch ops, every derivative from
torch.autograd (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training. float64 and float32;
CPU by default, `device=` for other devices. Global torch state (default dtype, threads)
is left untouched. Importing this package does not import torch; `train` does.
"""

from .framework import precision_mode

IMPLEMENTATION = {
    "name": "torch",
    "description": "PyTorch autograd, eager",
    "requires": ["torch"],
    "install": 'pip install -c constraints.txt -e ".[torch]"',
    "devices": ["cpu", "cuda"],
    "precisions": ["default", "highest"],
    "data_parallel": True,
    "reduced_precision": ["*"],  # explicit casts where the reference rounds (precision.py)
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


def train_data_parallel(case, world_size, **options):
    """torch_impl.data_parallel.train_data_parallel: `world_size` ranks, gloo (nccl on cuda)."""
    from .data_parallel import train_data_parallel as run
    return run(case, world_size, **options)


def train_data_parallel_many(cases, world_size, **options):
    """train_data_parallel of several cases in one process group (one start-up)."""
    from .data_parallel import train_many
    return train_many(cases, world_size, **options)


def data_parallel_missing(world_size, device="cpu", **_):
    """Why `world_size` ranks cannot run here (the backend is not built in), or None."""
    import torch.distributed as dist
    if not dist.is_available():
        return "this torch build has no torch.distributed"
    backend = "nccl" if device == "cuda" else "gloo"
    available = dist.is_nccl_available() if backend == "nccl" else dist.is_gloo_available()
    if not available:
        return f"torch.distributed's {backend} backend is not available in this torch build"
    if backend == "nccl":
        import torch
        if torch.cuda.device_count() < world_size:
            return (f"nccl needs one GPU per rank: {world_size} ranks, "
                    f"{torch.cuda.device_count()} GPUs")
    return None


def environment(device="cpu", precision="default") -> dict:
    """torch's version, threads and BLAS; the device's name and CUDA/cuDNN versions; the
    float32 settings in effect for a run at `precision`; for the manifest."""
    import torch
    env = {"torch": torch.__version__, "threads": torch.get_num_threads(),
           "blas": "mkl" if torch.backends.mkl.is_available() else "other", "device": device,
           "cuda_build": torch.version.cuda, "cudnn": torch.backends.cudnn.version()
           if torch.backends.cudnn.is_available() else None}
    if device == "cuda" and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(0)
    with precision_mode(precision) as settings:
        env["precision"] = settings
    return env


__all__ = ["IMPLEMENTATION", "data_parallel_missing", "environment", "precision_mode", "train",
           "train_data_parallel", "train_data_parallel_many"]
