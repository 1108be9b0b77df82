"""MindSpore: a Python float multiplied with a float64 tensor is first rounded to float32
(ERRATA.md). Exits 1 while x * 0.1 in float64 is not 0.1 * x to the last bit."""
import sys

import mindspore as ms
import mpmath
import numpy as np

exact = float(mpmath.mpf("0.1"))
x = ms.Tensor(np.array([1.0]), ms.float64)
got = float((x * 0.1).asnumpy()[0])
rel = abs(got - exact) / exact
print(f"mindspore {ms.__version__}: Tensor([1.0], float64) * 0.1 = {got!r}, exact {exact!r}, "
      f"relative deviation {rel:.3g} (float32(0.1) = {float(np.float32(0.1))!r}); "
      f"x / 10.0 = {float((x / 10.0).asnumpy()[0])!r}")
sys.exit(1 if got != exact else 0)
