"""This package's own CI: the suite's conformance checks, one pytest test each."""

from comparisons.conform import parametrize_with_checks


@parametrize_with_checks("autograd", examples=5)
def test_backprop_parity(check):
    check()
