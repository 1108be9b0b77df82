import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Derandomised and bounded for CI; "nightly" draws many more examples.
settings.register_profile("ci", derandomize=True, max_examples=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _numpy_errors_raise():
    """A RuntimeWarning (overflow, invalid, divide) anywhere in a test is a failure."""
    with np.errstate(all="raise", under="ignore"):
        yield


def pytest_sessionstart(session):
    import helpers
    helpers.start_background_torch()


def pytest_sessionfinish(session, exitstatus):
    import helpers
    helpers.stop_background_torch()
