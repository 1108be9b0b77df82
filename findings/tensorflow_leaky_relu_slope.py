"""TensorFlow: tf.nn.leaky_relu's slope is a 32-bit attribute, also in float64 (ERRATA.md).
Exits 1 while leaky_relu(-1.0, alpha=0.01) in float64 is not -0.01 to the last bit."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

exact = float(mpmath.mpf("-0.01"))
got = float(tf.nn.leaky_relu(tf.constant(-1.0, dtype=tf.float64), alpha=0.01).numpy())
rel = abs(got - exact) / abs(exact)
print(f"tensorflow {tf.__version__}: leaky_relu(-1.0, alpha=0.01) in float64 = {got!r}, exact "
      f"{exact!r}, relative deviation {rel:.3g} (float32(0.01) = {float(np.float32(0.01))!r})")
sys.exit(1 if got != exact else 0)
