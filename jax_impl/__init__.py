"""The reference's networks in JAX: forward passes in jax.numpy, every derivative from
jax.grad / jax.vjp (no hand-written derivative in this package).

Modules mirror reference/: activations, losses, network, training.

Global state: importing any of them (activations.py, which the others import) sets
`jax_enable_x64 = True` for the process, because float64 parity is the point and without it
JAX silently computes float64 input in float32. It is the only global change; float32 cases
stay float32 because every array is created with the case's explicit dtype. The import
asserts that the switch took effect. Importing this package itself does not import jax.
"""

from .framework import precision_mode

IMPLEMENTATION = {
    "name": "jax",
    "description": "JAX: jax.vjp / jax.value_and_grad, the whole run one jit-compiled scan",
    "requires": ["jax", "jaxlib"],
    "install": 'pip install -c constraints.txt -e ".[jax]"',
    "devices": ["cpu", "cuda"],
    "precisions": ["default", "highest"],
    "data_parallel": True,
    "reduced_precision": ["*"],  # explicit casts where the reference rounds (precision.py)
}


def train(case, **options):
    """jax_impl.training.train (imported on first use)."""
    from .training import train as run
    return run(case, **options)


def train_data_parallel(case, world_size, **options):
    """jax_impl.data_parallel.train_data_parallel: one program over a mesh of N devices."""
    from .data_parallel import train_data_parallel as run
    return run(case, world_size, **options)


def data_parallel_missing(world_size, **options):
    from .data_parallel import data_parallel_missing as why
    return why(world_size, **options)


def data_parallel_environment(world_size):
    """Its worker's XLA_FLAGS: at least `world_size` host CPU devices, the same count for
    world sizes 1-8 (one worker serves them), set before jax starts."""
    from .data_parallel import data_parallel_environment as env
    return env(world_size)


def environment(device="cpu", precision="default") -> dict:
    """jax's version, x64 state, devices (the run's, by kind) and the matrix-product precision
    in effect for a run at `precision`, for the manifest."""
    from . import activations  # noqa: F401  (enables x64)
    import jax
    import jaxlib
    env = {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
           "jax_enable_x64": bool(jax.config.jax_enable_x64),
           "devices": [str(d) for d in jax.devices()], "device": device}
    run_on = jax.devices({"cuda": "gpu"}.get(device, device))[0]
    env["device_name"] = f"{run_on.platform}: {getattr(run_on, 'device_kind', run_on)}"
    with precision_mode(precision) as settings:
        env["precision"] = settings
    return env


__all__ = ["IMPLEMENTATION", "data_parallel_environment", "data_parallel_missing",
           "environment", "precision_mode", "train", "train_data_parallel"]
