"""MindSpore: ops.leaky_relu's slope is a 32-bit number, also in float64 (ERRATA.md).
Exits 1 while leaky_relu(-1.0, 0.01) in float64 is not -0.01 to the last bit."""
import sys

import mindspore as ms
import mpmath
import numpy as np
from mindspore import ops

exact = float(mpmath.mpf("-0.01"))
got = float(ops.leaky_relu(ms.Tensor(np.array([-1.0]), ms.float64), 0.01).asnumpy()[0])
rel = abs(got - exact) / abs(exact)
print(f"mindspore {ms.__version__}: leaky_relu(-1.0, 0.01) in float64 = {got!r}, exact "
      f"{exact!r}, relative deviation {rel:.3g} (float32(0.01) = {float(np.float32(0.01))!r})")
sys.exit(1 if got != exact else 0)
