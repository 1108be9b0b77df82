"""`list`: the catalogue cases, or with --impl the registered implementations."""

from __future__ import annotations

from comparisons import catalogue, protocol
from comparisons.execution.runner import EXIT_OK

HELP = "the catalogue cases, or with --impl the implementations"


def add_arguments(p) -> None:
    p.add_argument("--impl", action="store_true", help="list the registered implementations")


def command(args) -> int:
    if args.impl:
        for impl in protocol.all_registered():
            why = impl.missing()
            print(f"{impl.name:<12} {impl.module:<16} {'ok' if not why else why:<10}  "
                  f"{impl.description}")
        return EXIT_OK
    for name in catalogue.names():
        c = catalogue.get(name)
        print(f"{name:<24} {c.dtype:<8} {str(c.layers):<18} {c.loss:<8} {c.reduction:<5} "
              f"{c.schedule:<13} {c.updates:>6} updates  {c.source}")
    return EXIT_OK
