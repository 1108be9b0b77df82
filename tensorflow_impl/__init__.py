"""The reference's networks in TensorFlow: forward passes in tf ops, every derivative from
tf.GradientTape (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training. float64 and float32. A
whole run is one tf.function (a tf.while_loop over the case's batch order). Importing this
package does not import tensorflow; its modules do, with TensorFlow's log noise turned off
(TF_CPP_MIN_LOG_LEVEL=3 unless already set, and the two start-up lines that TensorFlow 2.21
logs before its log level is read filtered from stderr: `framework.logs_filtered`).
"""

from .framework import logs_filtered, precision_mode

IMPLEMENTATION = {
    "name": "tensorflow",
    "description": "TensorFlow: tf.GradientTape, the whole run one tf.function",
    "requires": ["tensorflow"],
    "install": 'pip install -c constraints.txt -e ".[tensorflow]"',
    "devices": ["cpu", "cuda"],
    "precisions": ["default", "highest"],
    "reduced_precision": ["*"],  # explicit casts where the reference rounds (precision.py)
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


def environment(device="cpu", precision="default") -> dict:
    """TensorFlow's version, devices, threads, the CUDA/cuDNN versions it was built with and
    the TF32 setting in effect for a run at `precision`, for the manifest."""
    with logs_filtered():
        import tensorflow as tf
    build = tf.sysconfig.get_build_info()
    env = {"tensorflow": tf.__version__,
           "devices": [d.name for d in tf.config.list_logical_devices()], "device": device,
           "cuda_build": build.get("cuda_version"), "cudnn_build": build.get("cudnn_version"),
           "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
           "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}
    with precision_mode(precision) as settings:
        env["precision"] = settings
    return env


__all__ = ["IMPLEMENTATION", "environment", "precision_mode", "train"]
