"""The reference's training, using this package's activations."""

from ._source import run_reference_module

run_reference_module("training", globals())
