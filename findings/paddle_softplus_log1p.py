"""PaddlePaddle: softplus, and binary_cross_entropy_with_logits' loss value, compute
log(1 + e^z) without log1p (ERRATA.md). Exits 1 while either is off at z = -30 by more than
16 ulp of log1p(e^z) in float64."""
import sys
import warnings

import mpmath
import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle
    import paddle.nn.functional as F

mpmath.mp.dps = 40
z0 = -30.0
exact = float(mpmath.log1p(mpmath.exp(z0)))
z = paddle.to_tensor([z0], dtype="float64")
values = {"softplus": float(F.softplus(z).numpy()[0]),
          "bce_with_logits(y=0)": float(F.binary_cross_entropy_with_logits(
              z, paddle.to_tensor([0.0], dtype="float64")).numpy().ravel()[0])}
worst = 0.0
for name, got in values.items():
    rel = abs(got - exact) / exact
    worst = max(worst, rel)
    print(f"paddle {paddle.__version__}: {name} at z = {z0} = {got!r}, exact {exact!r}, relative "
          f"deviation {rel:.3g} (log(1 + e^z) without log1p: {float(np.log(1 + np.exp(z0)))!r})")
sys.exit(1 if worst > 16 * np.finfo(np.float64).eps else 0)
