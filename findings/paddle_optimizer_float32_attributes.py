"""PaddlePaddle: paddle.optimizer.Momentum takes its momentum (mu) and its L2 coefficient
(weight_decay), and AdamW its decay coefficient, as 32-bit attributes, also for float64
parameters (ERRATA.md). Three updates of one float64 parameter land exactly where float32's
0.9, 0.001 and 0.05 put them. Exits 1 while they are 32-bit."""
import sys
import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle

f32 = lambda x: float(np.float32(x))  # noqa: E731


def paddle_run(make):
    paddle.set_default_dtype("float64")
    w = paddle.create_parameter([1], "float64")
    w.set_value(np.array([1.0]))
    opt = make([w])
    for _ in range(3):
        (w * paddle.to_tensor([0.3], dtype="float64")).sum().backward()
        opt.step()
        opt.clear_grad()
    return float(w.numpy()[0])


def momentum(mu, wd):
    """B = mu B + (dP + wd P), P -= lr B, in float64 (lr 0.5)."""
    p, b = 1.0, 0.0
    for _ in range(3):
        b = mu * b + (0.3 + wd * p)
        p = p - 0.5 * b
    return p


def adamw(wd, b1=0.9, b2=0.999, eps=1e-8, lr=0.1):
    """P (1 - lr wd), then Adam's step (epsilon outside the root), in float64."""
    p, m, v = 1.0, 0.0, 0.0
    for k in range(1, 4):
        p = p * (1 - lr * wd)
        m, v = b1 * m + (1 - b1) * 0.3, b2 * v + (1 - b2) * 0.09
        p = p - lr * (m / (1 - b1 ** k)) / (np.sqrt(v / (1 - b2 ** k)) + eps)
    return p


runs = {
    "Momentum(0.9, weight_decay=0.001)": (
        paddle_run(lambda ps: paddle.optimizer.Momentum(0.5, momentum=0.9, parameters=ps,
                                                         weight_decay=0.001)),
        momentum(0.9, 0.001), momentum(f32(0.9), f32(0.001))),
    "AdamW(weight_decay=0.05)": (
        paddle_run(lambda ps: paddle.optimizer.AdamW(0.1, parameters=ps, weight_decay=0.05)),
        adamw(0.05), adamw(f32(0.05))),
}
present = False
for name, (got, f64, with_f32) in runs.items():
    print(f"paddle {paddle.__version__}: {name}, float64, 3 updates: {got!r}; with float64 "
          f"hyperparameters {f64!r} (relative {abs(got - f64) / abs(f64):.2g}); with float32 "
          f"ones {with_f32!r}")
    present |= abs(got - with_f32) < abs(got - f64)
sys.exit(1 if present else 0)
