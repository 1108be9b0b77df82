"""The reference's networks in MindSpore: forward passes in mindspore ops, every derivative
from mindspore's autodiff (mindspore.vjp, mindspore.value_and_grad) in PyNative mode (no
hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training. float64 and float32, on
the CPU. MindSpore 2.10 is built against NumPy 1.x and ships its own oneDNN, so it cannot
share the judge's environment (NumPy 2, PaddlePaddle): it runs in an environment of its own,
`.venvs/mindspore` (`bash tools/mindspore-env.sh`), whose worker speaks JSON with the judge
(comparisons/execution/workers.py). Importing this package does not import mindspore; `train`
does.
"""

import numpy

IMPLEMENTATION = {
    "name": "mindspore",
    "description": "MindSpore: mindspore.vjp and value_and_grad, PyNative",
    "requires": ["mindspore"],
    "install": "bash tools/mindspore-env.sh",
    "python": ".venvs/mindspore/bin/python",
    "max_updates": 1000,
    "max_updates_reason": "MindSpore's PyNative mode takes 6 to 20 ms an update here (launch "
                          "blocking), so the 3,000- to 20,000-update runs would take 18 s to "
                          "2 min each on one core of 2 (run by hand, mazur-sequential passes)",
    # Found by the judge; evidence in ERRATA.md and findings/ (each script exits 1 while the
    # defect is present). Not strict: it shows only where a negative activation meets it.
    "expected_failures": [
        {"case": "*", "dtype": "float64", "activation": "leaky_relu", "strict": False,
         "reason": "mindspore's ops.leaky_relu takes its slope as a 32-bit number, also in "
                   "float64: float32(0.01) = 0.009999999776, a relative error of 2.2e-8 in "
                   "every negative activation and its gradient (ERRATA.md)"},
        {"case": "*", "dtype": "float32", "activation": "tanh", "strict": False,
         "reason": "mindspore's float32 ops.tanh on the CPU is off by up to 1,687 ulp (1e-4 "
                   "relative) for 1 < |z| < 9, and exceeds 1 there: tanh(5) = 1.0000098 "
                   "(ERRATA.md)"},
        {"case": "*", "dtype": "float32", "loss": "bce", "tensors": ["losses*"],
         "strict": False,
         "reason": "mindspore's float32 binary_cross_entropy_with_logits loss value is 0 for "
                   "a confident negative from z = -17 (log(1 + e^z) = 4.1e-8) and softplus "
                   "is 66 ulp off there (ERRATA.md); its gradient is computed separately"}],
    "unsupported": [
        {"case": "*", "dtype": "float64", "loss": "bce",
         "reason": "MindSpore 2.10's binary_cross_entropy_with_logits (BCEWithLogitsLoss) "
                   "accepts float16, bfloat16 and float32 only, not float64, on the CPU"},
        {"case": "*", "dtype": "float64", "loss": "cce",
         "reason": "MindSpore 2.10's softmax cross-entropy takes no float64 on the CPU: "
                   "SoftmaxCrossEntropyWithLogits accepts float16 and float32 labels only, "
                   "and ops.cross_entropy with float64 class probabilities takes its "
                   "class-index path and fails (GatherD: index must be an integer)"}],
}


# Its worker runs on one CPU (comparisons/execution/workers.py): MindSpore's runtime thread
# polls while an op runs. gd-sgd's 400 updates here: 2.2-2.8 s wall and 4.5-5.6 CPU-s free,
# 2.1-2.4 s and 2.1-2.3 CPU-s on one CPU (2026-12-03).
WORKER_CPUS = 1


def train(case, **options):
    """mindspore_impl.training.train (imported on first use)."""
    from .training import train as run
    return run(case, **options)


def environment() -> dict:
    """MindSpore's and NumPy's versions and the device it runs on, for the manifest."""
    import mindspore
    return {"mindspore": mindspore.__version__, "numpy": numpy.__version__, "device": "CPU"}


__all__ = ["IMPLEMENTATION", "environment", "train"]
