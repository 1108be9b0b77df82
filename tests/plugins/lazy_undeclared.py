"""A one-module plugin that imports a missing package only inside train: found at its first run."""

IMPLEMENTATION = {"name": "lazy-undeclared", "description": "imports a missing package in train",
                  "install": "pip install lazy-undeclared"}


def train(case, **options):
    import bp_parity_no_such_dependency  # noqa: F401
