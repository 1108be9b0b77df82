"""`parametrize_with_checks` under its documented import path (docs/FRAMEWORK-AUTHORS.md): the
conformance suite lives in comparisons/commands/conform.py."""

from comparisons.commands.conform import (Check, ExpectedFailureError, checks,
                                          parametrize_with_checks)

__all__ = ["Check", "ExpectedFailureError", "checks", "parametrize_with_checks"]
