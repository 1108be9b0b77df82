"""The reference's networks in JAX: forward passes in jax.numpy, every derivative from
jax.grad / jax.vjp (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training.

Global state: importing any of them (activations.py, which the others import) sets
`jax_enable_x64 = True` for the process, because float64 parity is the point and without it
JAX silently computes float64 input in float32. It is the only global change; float32 cases
stay float32 because every array is created with the case's explicit dtype. The import
asserts that the switch took effect. Importing this package itself does not import jax.
"""

IMPLEMENTATION = {
    "name": "jax",
    "description": "JAX: jax.vjp / jax.value_and_grad, the whole run one jit-compiled scan",
    "requires": ["jax", "jaxlib"],
    "install": 'pip install -c constraints.txt -e ".[jax]"',
    "devices": ["cpu", "cuda"],
}


def train(case, **options):
    """jax_impl.training.train (imported on first use)."""
    from .training import train as run
    return run(case, **options)


def environment() -> dict:
    """jax's version, x64 state and devices, for the manifest."""
    from . import activations  # noqa: F401  (enables x64)
    import jax
    import jaxlib
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "devices": [str(d) for d in jax.devices()]}


__all__ = ["IMPLEMENTATION", "environment", "train"]
