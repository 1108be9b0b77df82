"""optax: a schedule inside an optimizer is evaluated in float32 in a float64 run (x64 on). The
optimizer's step count is int32, and `count / transition_steps` (exponential_decay) or
`jnp.pi * count / decay_steps` (cosine_decay) is float32, so every decayed rate carries a
relative error of up to 2^-24 where the run's unit is 2^-53 (ERRATA.md). Exits 1 while
exponential_decay(0.0625, 3, 0.3, staircase=True) at an int32 count of 3 is not 0.0625 * 0.3 to
float64 rounding."""
import sys

import jax

jax.config.update("jax_enable_x64", True)
assert jax.config.jax_enable_x64, "x64 did not take effect"

import jax.numpy as jnp  # noqa: E402
import mpmath  # noqa: E402
import optax  # noqa: E402

mpmath.mp.dps = 40
exact = mpmath.mpf(0.0625) * mpmath.mpf(0.3)  # the rate at count 3: one decay of the float 0.3
schedule = optax.exponential_decay(0.0625, 3, 0.3, staircase=True)
got = schedule(jnp.asarray(3, dtype=jnp.int32))  # the count optax's optimizers carry
rel = float(abs(mpmath.mpf(float(got)) - exact) / exact)
print(f"optax {optax.__version__}, jax {jax.__version__}: exponential_decay at int32 count 3 = "
      f"{float(got)!r} ({got.dtype}), exact {mpmath.nstr(exact, 17)}, deviation {rel:.3g} "
      f"relative = {rel / 2 ** -53:.3g} float64 units")
sys.exit(1 if rel > 4 * 2 ** -53 else 0)
