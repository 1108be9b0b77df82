"""JAX's settings for a run, set and restored around it (not a formula: not mirrored).
Importing this module does not import jax."""

import contextlib


@contextlib.contextmanager
def precision_mode(precision="default"):
    """jax.default_matmul_precision("highest") for `precision` "highest" (comparisons/
    devices.py), nothing for "default"; restored after; yields the setting in effect."""
    import jax
    with (jax.default_matmul_precision("highest") if precision == "highest"
          else contextlib.nullcontext()):
        yield {"mode": precision,
               "jax_default_matmul_precision": jax.config.jax_default_matmul_precision}
