"""PaddlePaddle: softmax and cross_entropy clamp z - max(z) at -64 (ERRATA.md). Exits 1 while
softmax of a logit 100 below the maximum is e^-64 instead of e^-100 / (1 + e^-100)."""
import sys
import warnings

import mpmath

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle
    import paddle.nn.functional as F

mpmath.mp.dps = 40
z = paddle.to_tensor([[0.0], [-100.0]], dtype="float64")
got = float(F.softmax(z, axis=0).numpy()[1, 0])
exact = float(mpmath.exp(-100) / (1 + mpmath.exp(-100)))
y = paddle.to_tensor([[0.0], [1.0]], dtype="float64")
loss = float(F.cross_entropy(z, y, soft_label=True, axis=0, reduction="none").numpy().ravel()[0])
print(f"paddle {paddle.__version__}: softmax at a gap of 100 = {got!r}, exact {exact!r} "
      f"(relative deviation {abs(got - exact) / exact:.3g}); cross_entropy there = {loss!r}, "
      f"exact {float(100 + mpmath.log1p(mpmath.exp(-100)))!r}")
sys.exit(1 if abs(got - exact) > 1e-15 * exact else 0)
