"""Imports a module no machine has, at import time, as a plugin's forgotten dependency would."""

import bp_parity_no_such_dependency  # noqa: F401

from reference import train  # noqa: F401,E402
