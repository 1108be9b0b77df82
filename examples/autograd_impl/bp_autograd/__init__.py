"""backprop-parity's networks in HIPS autograd, every derivative from autograd.make_vjp."""

IMPLEMENTATION = {
    "name": "autograd",
    "description": "HIPS autograd: NumPy with reverse-mode automatic differentiation",
    "requires": ["autograd", "scipy"],  # checked before any run: autograd.scipy needs scipy
    "install": "pip install -e examples/autograd_impl",
    # autograd's VJPs of where, max and minimum return float64 for float32 inputs, so a
    # float32 network does not stay float32: float32 cases are declared unsupported.
    "dtypes": ["float64"],
}


def train(case, **options):
    """bp_autograd.training.train (imported on first use)."""
    from .training import train as run
    return run(case, **options)


def environment() -> dict:
    import autograd
    import numpy
    import scipy
    from importlib.metadata import version
    return {"autograd": version("autograd"), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "module": autograd.__name__}
