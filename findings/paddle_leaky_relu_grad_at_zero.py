"""PaddlePaddle: leaky_relu's gradient at exactly 0 is 1, the positive side's, where PyTorch
and this suite take the slope (ERRATA.md). A convention, not an error of rounding; exits 1
while it differs from the slope."""
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle
    import paddle.nn.functional as F

z = paddle.to_tensor([0.0], dtype="float64", stop_gradient=False)
(g,) = paddle.grad(F.leaky_relu(z, 0.01).sum(), z)
got = float(g.numpy()[0])
print(f"paddle {paddle.__version__}: leaky_relu'(0) with slope 0.01 = {got!r}; PyTorch and the "
      "suite: 0.01")
sys.exit(0 if got == 0.01 else 1)
