"""The reference's networks in PaddlePaddle: forward passes in paddle ops, every derivative
from paddle.grad in dygraph mode (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training. float64 and float32, on
the CPU. Importing this package does not import paddle; `train` does.
"""

from .framework import quiet_import

IMPLEMENTATION = {
    "name": "paddle",
    "description": "PaddlePaddle: paddle.grad, dygraph",
    "requires": ["paddle"],
    "install": 'pip install -c constraints.txt -e ".[paddle]"',
    # Found by the judge; evidence in ERRATA.md and findings/ (each script exits 1 while the
    # defect is present). Not strict: each shows only at the inputs it names.
    "expected_failures": [
        {"case": "*", "loss": "bce", "tensors": ["losses*"], "strict": False,
         "reason": "paddle's softplus and binary_cross_entropy_with_logits' loss value compute "
                   "log(1 + e^z) without log1p: relative error 1e-3 at z = -30 and the value 0 "
                   "for z < -37.4 in float64, where log1p(e^z) = 9.36e-14 and 4.2e-18 "
                   "(ERRATA.md). Its gradient is computed separately"},
        {"case": "*", "loss": "bce", "activation": "relu", "strict": False,
         "reason": "paddle's binary_cross_entropy_with_logits gradient at a logit of exactly 0 "
                   "is sigma(0) - y - 1 (-0.5 for y = 0, -1.5 for y = 1) instead of "
                   "sigma(0) - y (at z = +-1e-300 it is right): a relu layer dead on a sample, "
                   "with zero biases, makes that logit exactly 0 (ERRATA.md)"},
        {"case": "*", "activation": "softmax", "strict": False,
         "reason": "paddle's softmax and cross_entropy clamp z - max(z) at -64 (float64): no "
                   "probability falls below e^-64 = 1.6e-28, and a sample's loss is capped at "
                   "64 (a logit gap of 1000 gives 64, not 1000); it shows once logits spread "
                   "beyond 64 (ERRATA.md)"},
        {"case": "*", "activation": "leaky_relu", "strict": False,
         "reason": "paddle's leaky_relu gradient at exactly 0 is 1, the positive side's, where "
                   "the suite (and PyTorch) take the slope, 0.01 (ERRATA.md); it shows only "
                   "where a pre-activation is exactly 0"}],
}


def train(case, **options):
    """paddle_impl.training.train (imported on first use)."""
    from .training import train as run
    return run(case, **options)


def environment() -> dict:
    """Paddle's version, its build's CUDA and the device it runs on, for the manifest."""
    with quiet_import():
        import paddle
    return {"paddle": paddle.__version__, "device": paddle.device.get_device(),
            "cuda_build": paddle.version.cuda()}


__all__ = ["IMPLEMENTATION", "environment", "train"]
