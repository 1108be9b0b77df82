"""MindSpore: the gradient of ops.leaky_relu at exactly 0 is (1 + slope) / 2, the mean of its
two sides, where the suite (and PyTorch) take the slope (ERRATA.md). Exits 1 while
leaky_relu'(0) with slope 0.01 is not 0.01."""
import sys

import mindspore as ms
import mpmath
import numpy as np
from mindspore import ops

exact = float(mpmath.mpf("0.01"))  # the suite's convention: the negative side's slope
x = ms.Tensor(np.array([0.0]), ms.float64)
_, pullback = ms.vjp(lambda z: ops.leaky_relu(z, 0.01), x)
(g,) = pullback(ops.ones_like(x))
got = float(g.asnumpy()[0])
print(f"mindspore {ms.__version__}: leaky_relu'(0) with slope 0.01 = {got!r}, the suite's "
      f"convention {exact!r}, deviation {abs(got - exact):.3g}")
sys.exit(1 if abs(got - exact) > 1e-9 else 0)
