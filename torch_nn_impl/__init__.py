"""The case as a PyTorch user trains it: torch.nn layers and losses, torch.optim, its
learning-rate schedulers and torch.nn.utils.clip_grad_norm_ (issue #31).

Not a mirror of reference/: it has no per-formula modules, only `model.py` (and
`data_parallel.py`, DistributedDataParallel), written the way
torch's tutorials write a training loop. torch_impl mirrors the reference formula by formula;
this package is what people port between frameworks. Importing it does not import torch.
"""

IMPLEMENTATION = {
    "name": "torch-nn",
    "description": "PyTorch as its users train: torch.nn, torch.optim, lr_scheduler",
    "requires": ["torch"],
    "install": 'pip install -c constraints.txt -e ".[torch]"',
    # A layer updates as soon as its gradient is known: torch.optim steps after backward()
    # has finished every layer, so the sequential schedule has no idiomatic form.
    "schedules": ["simultaneous"],
    # DistributedDataParallel on ranks from torch.multiprocessing.spawn, gloo
    # (torch_nn_impl/data_parallel.py; docs/DATA-PARALLEL.md)
    "data_parallel": True,
    # torch.optim.SGD (weight_decay is L2: coupled; decay:decoupled is AdamW's), with momentum as
    # torch computes it (the rate outside the velocity, dampening, Nesterov); Adam (epsilon
    # outside the root, both moments corrected, weight_decay coupled) and AdamW (decoupled, times
    # lr); StepLR, and a warm-up into a cosine as a LambdaLR of the closed form, each with the
    # scheduler stepping after the update (offset 0), as torch requires; clip_grad_norm_ (its eps
    # is 1e-6). No switch turns off Adam's bias correction, folds epsilon as TensorFlow does, or
    # puts it inside the root, and SGD has no decoupled decay: those cases are listed. (torch's
    # own CosineAnnealingLR computes the rate by a recursion whose rounding the judge does not
    # bound yet: TOLERANCES.md, "Optimizers".)
    "training": ["optimizer:sgd", "optimizer:momentum", "optimizer:adam", "optimizer:adamw",
                 "velocity:lr_outside", "dampening", "nesterov", "epsilon:outside",
                 "decay:coupled", "decay:decoupled", "lr_schedule:constant", "lr_schedule:step",
                 "lr_schedule:cosine", "clip", "clip_eps:1e-06"],
    "unsupported": [{"case": "*", "training": [f"optimizer:{name}", "decay:decoupled"],
                     "reason": "torch.optim.SGD's weight_decay is L2 (coupled); it has no "
                               "decoupled weight decay"} for name in ("sgd", "momentum")],
    "expected_failures": [{
        "case": "*", "loss": "bce", "tensors": ["losses*"], "strict": False,
        "reason": "torch's binary_cross_entropy_with_logits computes (1 - y) z - log_sigmoid(z) "
                  "(aten/src/ATen/native/Loss.cpp), which cancels for confident negatives "
                  "(y = 0, z << 0): the loss value's error is ~u|z| instead of ~u e^z "
                  "(ERRATA.md; the torch package's own finding). Its gradient is computed "
                  "separately, and is judged strictly"}],
}


def train(case, **options):
    """torch_nn_impl.model.train (imported on first use)."""
    from .model import train as run
    return run(case, **options)


def train_data_parallel(case, world_size, **options):
    """torch_nn_impl.data_parallel.train_data_parallel: DistributedDataParallel on N ranks."""
    from .data_parallel import train_data_parallel as run
    return run(case, world_size, **options)


def data_parallel_missing(world_size, **options):
    from .data_parallel import data_parallel_missing as why
    return why(world_size, **options)


def environment(**_) -> dict:
    """torch's version and threads, for the manifest."""
    import torch
    return {"torch": torch.__version__, "threads": torch.get_num_threads()}
