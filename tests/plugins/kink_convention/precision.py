"""The reference's reduced-precision roundings, as this package's module (network and
training import it)."""

from ._source import run_reference_module

run_reference_module("precision", globals())
