"""PaddlePaddle: the gradient of binary_cross_entropy_with_logits at a logit of exactly 0 is
sigma(0) - y - 1 instead of sigma(0) - y (ERRATA.md). Exits 1 while it is wrong for y = 0 or 1."""
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle
    import paddle.nn.functional as F

wrong = False
for y in (0.0, 1.0):
    for z0 in (0.0, 1e-300):
        z = paddle.to_tensor([z0], dtype="float64", stop_gradient=False)
        loss = F.binary_cross_entropy_with_logits(z, paddle.to_tensor([y], dtype="float64"),
                                                  reduction="sum")
        (g,) = paddle.grad(loss, z)
        got, exact = float(g.numpy()[0]), 0.5 - y  # sigma(z) - y, sigma(0) = 1/2 exactly
        wrong |= got != exact
        print(f"paddle {paddle.__version__}: d bce/dz at z = {z0:g}, y = {y:g}: {got!r}, exact "
              f"{exact!r}, deviation {got - exact:+g}")
sys.exit(1 if wrong else 0)
