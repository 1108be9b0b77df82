"""Loading TensorFlow quietly, and its settings for a run, set and restored around it (not a
formula: not mirrored). Importing this module does not import tensorflow."""

import contextlib
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before tensorflow loads: no log noise

# Logged by TensorFlow's C++ start-up before absl reads any level: absl's notice, and oneDNN's
# "custom operations are on" (information: oneDNN is TensorFlow's default, and is judged so).
_START_UP_NOISE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is "
                             rb"called are written to STDERR|I\d{4} .*\] oneDNN custom "
                             rb"operations are on\..*)\n", re.M)


@contextlib.contextmanager
def logs_filtered():
    """Around the first `import tensorflow`: file descriptor 2 goes to a temporary file, and
    what TensorFlow wrote there comes back to stderr without its two start-up lines. Other
    output (a warning, an error) passes through, also when the import raises."""
    if "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            rest = _START_UP_NOISE.sub(b"", tmp.read())
            if rest:
                os.write(2, rest)


@contextlib.contextmanager
def precision_mode(precision="default"):
    """TensorFlow's TF32 execution off for `precision` "highest" (comparisons/protocol/devices.py),
    untouched for "default"; restored after; yields the setting in effect."""
    import tensorflow as tf
    saved = tf.config.experimental.tensor_float_32_execution_enabled()
    try:
        if precision == "highest":
            tf.config.experimental.enable_tensor_float_32_execution(False)
        yield {"mode": precision, "tensor_float_32_execution":
               tf.config.experimental.tensor_float_32_execution_enabled()}
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(saved)
