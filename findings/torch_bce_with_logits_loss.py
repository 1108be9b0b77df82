"""PyTorch: binary_cross_entropy_with_logits cancels for confident negatives (ERRATA.md).
Exits 1 while its float64 loss at z = -20, y = 0 is off by more than 16 ulp of log1p(e^z)."""
import sys

import mpmath
import numpy as np
import torch
import torch.nn.functional as F

mpmath.mp.dps = 40
z, exact = -20.0, float(mpmath.log1p(mpmath.exp(-20)))
got = F.binary_cross_entropy_with_logits(torch.tensor(z, dtype=torch.float64),
                                         torch.tensor(0.0, dtype=torch.float64)).item()
rel = abs(got - exact) / exact
print(f"torch {torch.__version__}: bce_with_logits(z={z}, y=0) = {got!r}, exact {exact!r}, "
      f"relative deviation {rel:.3g} ({rel / np.finfo(np.float64).eps:.0f} ulp)")
sys.exit(1 if rel > 16 * np.finfo(np.float64).eps else 0)
