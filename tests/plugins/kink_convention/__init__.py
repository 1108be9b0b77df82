"""The reference with another convention at the kinks: relu'(0) = 1 and leaky_relu'(0) = 1
(the positive side's), as some frameworks take them (tinygrad's leaky_relu). Its modules are
the reference's own source run as this package's modules, with the two derivatives replaced
(activations.py), so that a diff shows the convention and nothing else; diagnose must name
the formula and give the kink hint (tests/test_diagnose.py)."""

IMPLEMENTATION = {"name": "kink-convention",
                  "description": "relu'(0) = leaky_relu'(0) = 1 (tests)"}


def train(case, **options):
    from .training import train as run
    return run(case)
