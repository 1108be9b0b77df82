"""PaddlePaddle: paddle.optimizer.Momentum takes its momentum (mu) and its L2 coefficient
(weight_decay) as 32-bit attributes, also for float64 parameters (ERRATA.md). Three updates of
one float64 parameter with mu = 0.9 and weight_decay = 0.001 land exactly where float32's
0.8999999761581421 and 0.0010000000474974513 put them. Exits 1 while they are 32-bit."""
import sys
import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle


def paddle_run(mu, wd):
    paddle.set_default_dtype("float64")
    w = paddle.create_parameter([1], "float64")
    w.set_value(np.array([1.0]))
    opt = paddle.optimizer.Momentum(learning_rate=0.5, momentum=mu, parameters=[w],
                                    weight_decay=wd)
    for _ in range(3):
        (w * paddle.to_tensor([1.0], dtype="float64")).sum().backward()
        opt.step()
        opt.clear_grad()
    return float(w.numpy()[0])


def by_hand(mu, wd):
    """B = mu B + (dP + wd P), P -= lr B, in float64."""
    p, b = 1.0, 0.0
    for _ in range(3):
        b = mu * b + (1.0 + wd * p)
        p = p - 0.5 * b
    return p


got = paddle_run(0.9, 0.001)
f64 = by_hand(0.9, 0.001)
f32 = by_hand(float(np.float32(0.9)), float(np.float32(0.001)))
print(f"paddle {paddle.__version__}: Momentum(0.9, weight_decay=0.001), float64, 3 updates: "
      f"{got!r}; with float64 hyperparameters {f64!r} (relative {abs(got - f64) / abs(f64):.2g}); "
      f"with float32 ones {f32!r}")
sys.exit(1 if got == f32 and got != f64 else 0)
