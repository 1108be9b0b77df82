"""The case as a JAX user trains it: a per-example model batched with jax.vmap, jax.nn's
activations, optax's losses, optimizers, schedules and clipping, one jit-compiled update
(issue #31).

Not a mirror of reference/: it has no per-formula modules, only `model.py` (and
`data_parallel.py`, shard_map), written the way
JAX's and optax's tutorials write a training loop. jax_impl mirrors the reference formula by
formula; this package is what people port between frameworks. Importing it does not import
jax.
"""

IMPLEMENTATION = {
    "name": "jax-optax",
    "description": "JAX as its users train: jax.vmap, jax.nn, optax's losses, optimizers and "
                   "schedules",
    "requires": ["jax", "jaxlib", "optax"],
    "install": 'pip install -c constraints.txt -e ".[jax]"',
    # optax updates every parameter from one gradient pytree: the sequential schedule, a
    # layer updated before the layers below it are differentiated, has no idiomatic form.
    "schedules": ["simultaneous"],
    # shard_map over a mesh of host devices, optax's update on the summed gradients
    # (jax_optax_impl/data_parallel.py; docs/DATA-PARALLEL.md)
    "data_parallel": True,
    # optax.sgd (its trace: the rate outside the velocity, no dampening, Nesterov as torch
    # computes it); optax.adam (epsilon outside the root, or inside it as eps_root with eps 0;
    # both moments corrected); optax.adamw (decoupled decay times lr); coupled decay as
    # add_decayed_weights before the optimizer, decoupled decay of sgd/momentum as
    # add_decayed_weights between the direction and scale_by_learning_rate, as optax.adamw is
    # built; exponential_decay with staircase, warmup_cosine_decay_schedule, each read at the
    # update's own count (offset 0); clip_by_global_norm (no eps). No switch turns off Adam's
    # bias correction, folds epsilon as TensorFlow does, damps the trace, puts the rate inside
    # it, decays without lr or shifts a schedule by one: those cases are listed.
    "training": ["optimizer:sgd", "optimizer:momentum", "optimizer:adam", "optimizer:adamw",
                 "velocity:lr_outside", "nesterov", "epsilon:outside", "epsilon:inside",
                 "decay:coupled", "decay:decoupled", "lr_schedule:constant", "lr_schedule:step",
                 "lr_schedule:cosine", "clip", "clip_eps:0.0"],
    "expected_failures": [
        {"case": "*", "activation": "leaky_relu", "strict": False,
         "reason": "jax.nn.leaky_relu is jnp.where(x >= 0, x, negative_slope * x), so its "
                   "gradient at exactly 0 is 1, the positive side's, where the suite (and "
                   "PyTorch) take the slope, 0.01 (ERRATA.md); it shows only where a "
                   "pre-activation is exactly 0"},
        *({"case": "*", "dtype": "float64", "training": [f"lr_schedule:{name}"],
           "reason": "optax's schedules compute in float32 under x64: the optimizers' step "
                     "count is int32 and count / steps is float32 in JAX, a relative 1e-8 to "
                     "4e-8 in every scheduled rate (findings/optax_schedule_float32.py)"}
          for name in ("step", "cosine"))],
}


def train(case, **options):
    """jax_optax_impl.model.train (imported on first use)."""
    from .model import train as run
    return run(case, **options)


def train_data_parallel(case, world_size, **options):
    """jax_optax_impl.data_parallel.train_data_parallel: shard_map over N devices, optax's
    update replicated."""
    from .data_parallel import train_data_parallel as run
    return run(case, world_size, **options)


def data_parallel_missing(world_size, **options):
    from .data_parallel import data_parallel_missing as why
    return why(world_size, **options)


# Host devices a data-parallel worker gets at least (one worker serves world sizes 1-8)
HOST_DEVICES = 8


def data_parallel_environment(world_size):
    """Its worker's XLA_FLAGS: max(world_size, HOST_DEVICES) host CPU devices, set before jax
    starts (here, so that the parent does not import jax to compute it)."""
    n = max(world_size, HOST_DEVICES)
    return {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
            "JAX_NUM_CPU_DEVICES": str(n)}


def environment(**_) -> dict:
    """jax's and optax's versions and the x64 switch, for the manifest."""
    from .model import jax, optax
    return {"jax": jax.__version__, "optax": optax.__version__,
            "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "devices": [str(d) for d in jax.devices()]}
