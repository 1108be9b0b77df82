"""JAX: jax.nn.leaky_relu's gradient at exactly 0 is 1, the positive side's, where PyTorch and
this suite take the slope (ERRATA.md). A convention, not an error of rounding; exits 1 while
it differs from the slope."""
import sys

import jax

jax.config.update("jax_enable_x64", True)
got = float(jax.grad(lambda z: jax.nn.leaky_relu(z, negative_slope=0.01))(0.0))
print(f"jax {jax.__version__}: jax.nn.leaky_relu'(0) with slope 0.01 = {got!r}; PyTorch and the "
      "suite: 0.01")
sys.exit(0 if got == 0.01 else 1)
