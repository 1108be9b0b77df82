"""Keras 3: in float64 training the optimizers use float32 copies of their Python-float
hyperparameters. `keras.ops.cast(0.9, "float64")` converts the float to a float32 tensor first
(TensorFlow's default for a Python float): 0.8999999761581421. Adam's bias corrections use
float32 beta_1 and beta_2, SGD its float32 momentum, and the decoupled weight decay its float32
rate, a relative 1e-8 to 1e-5 in every update where the run's unit is 1.1e-16 (ERRATA.md;
np.float64 hyperparameters avoid it). Exits 1 while one Adam update of a float64 variable differs from the float64 formula by
more than 8 float64 units."""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402

mpmath.mp.dps = 40
cast = float(keras.ops.cast(0.9, "float64"))
b1, b2, eps, lr, g = 0.9, 0.999, 1e-7, 2.0 ** -4, 0.75  # lr exact in float32
var = keras.Variable(np.array([1.0]), dtype="float64")
opt = keras.optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps)
opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([g]), dtype="float64"), var)])
got = float(var.numpy()[0])
B1, B2 = mpmath.mpf(b1), mpmath.mpf(b2)  # Keras's own form, with its epsilon-hat, exactly
m, v = (1 - B1) * g, (1 - B2) * g * g
exact = 1 - lr * mpmath.sqrt(1 - B2) / (1 - B1) * m / (mpmath.sqrt(v) + eps)
err = float(abs(mpmath.mpf(got) - exact) / abs(1 - exact))
print(f"keras {keras.__version__} (floatx {keras.config.floatx()}): ops.cast(0.9, 'float64') = "
      f"{cast!r}; one Adam update moves 1.0 by {1 - got!r}, exactly {mpmath.nstr(1 - exact, 17)}, "
      f"deviation of the step {err:.3g} relative = {err / 2 ** -53:.3g} float64 units")
sys.exit(1 if err > 8 * 2 ** -53 else 0)
