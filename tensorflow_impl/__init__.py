"""The reference's networks in TensorFlow: forward passes in tf ops, every derivative from
tf.GradientTape (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training. float64 and float32. A
whole run is one tf.function (a tf.while_loop over the case's batch order). Importing this
package does not import tensorflow; `train` does, with TensorFlow's log noise turned off
(TF_CPP_MIN_LOG_LEVEL=3 unless already set).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before tensorflow loads: no log noise

IMPLEMENTATION = {
    "name": "tensorflow",
    "description": "TensorFlow: tf.GradientTape, the whole run one tf.function",
    "requires": ["tensorflow"],
    "install": 'pip install -c constraints.txt -e ".[tensorflow]"',
    "devices": ["cpu", "cuda"],
    "expected_failures": [{
        "case": "*", "dtype": "float64", "activation": "leaky_relu",
        "reason": "tf.nn.leaky_relu takes its slope as a 32-bit attribute (REGISTER_OP("
                  "\"LeakyRelu\") .Attr(\"alpha: float\")), so in float64 the slope is "
                  "float32(0.01) = 0.009999999776, a relative error of 2.2e-8 in every "
                  "negative activation and its gradient (ERRATA.md)"}],
}


def train(case, **options):
    """tensorflow_impl.training.train (imported on first use)."""
    from .training import train as run
    return run(case, **options)


def environment() -> dict:
    """TensorFlow's version, devices and threads, for the manifest."""
    from . import activations  # noqa: F401  (quiets the logs before tensorflow loads)
    import tensorflow as tf
    return {"tensorflow": tf.__version__,
            "devices": [d.name for d in tf.config.list_logical_devices()],
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}


__all__ = ["IMPLEMENTATION", "environment", "train"]
