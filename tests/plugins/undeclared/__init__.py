"""A plugin that imports a package it does not declare, as the autograd example once did with
scipy: `requires` passes, and its `training` module fails to import on this machine."""

IMPLEMENTATION = {"name": "undeclared", "description": "imports a package it does not declare",
                  "install": "pip install -e path/to/undeclared"}


def train(case, **options):
    from .training import train as run
    return run(case, **options)
