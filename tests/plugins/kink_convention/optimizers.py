"""The reference's optimizers, as this package's module (training imports it)."""

from ._source import run_reference_module

run_reference_module("optimizers", globals())
