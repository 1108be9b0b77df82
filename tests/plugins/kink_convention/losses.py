"""The reference's losses, using this package's activations."""

from ._source import run_reference_module

run_reference_module("losses", globals())
