"""The reference's networks in JAX: forward passes in jax.numpy, every derivative from
jax.grad / jax.vjp (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training.

Global state: importing this package sets `jax_enable_x64 = True` for the process, because
float64 parity is the point and without it JAX silently computes float64 input in float32.
It is the only global change; float32 cases stay float32 because every array is created
with the case's explicit dtype. The import asserts that the switch took effect.
"""

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)
if jnp.zeros(1, dtype=jnp.float64).dtype != jnp.float64:  # pragma: no cover
    raise RuntimeError("jax_impl: enabling jax_enable_x64 did not take effect; float64 "
                       "arrays would silently be float32")

from .training import train  # noqa: E402

__all__ = ["train"]
