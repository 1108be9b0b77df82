"""The reference's network, using this package's activations."""

from ._source import run_reference_module

run_reference_module("network", globals())
