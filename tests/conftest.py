import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# ci: derandomised and bounded (CI). nightly: 2,000 examples, seeded by the command line
# (`--hypothesis-seed=N`, docs/DEVELOPING.md); dev: a quick random run.
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.filter_too_much])
settings.register_profile("ci", derandomize=True, max_examples=10, **_COMMON)
settings.register_profile("dev", max_examples=40, **_COMMON)
settings.register_profile("nightly", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
NIGHTLY = os.environ.get("HYPOTHESIS_PROFILE") == "nightly"

# Paddle 3.3.1 crashes when it is loaded after TensorFlow (ERRATA.md), and a test process
# loads the frameworks in whatever order its tests come: Paddle first, where it is installed.
if importlib.util.find_spec("paddle") is not None:
    import paddle_impl.network  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def _warm_workers():
    """Each framework's worker is started once per test process and reused by every test
    that runs implementations (comparisons.workers.warm_workers); stopped at the end. The
    test processes (pytest-xdist) share the CPUs: each one's pools get its share of the
    training slots (workers.training_slots), so that the suite, like the main job, never runs
    more trainings at once than there are CPUs."""
    from comparisons.execution import workers
    processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    share = max(1, workers.training_slots() // processes)
    with pytest.MonkeyPatch.context() as mp, workers.warm_workers():
        mp.setattr(workers, "training_slots", lambda: share)
        yield


@pytest.fixture(autouse=True)
def _numpy_errors_raise():
    """A RuntimeWarning (overflow, invalid, divide) anywhere in a test is a failure."""
    with np.errstate(all="raise", under="ignore"):
        yield


def pytest_collection_modifyitems(session, config, items):
    """A test marked `nightly(why)` runs in the nightly profile only, and is listed as skipped,
    with its reason, in CI (docs/DEVELOPING.md, "What runs only at night"). Then start the main
    job in the background as soon as a selected test that runs needs its results."""
    for item in items:
        mark = item.get_closest_marker("nightly")
        if mark is None:
            continue
        if len(mark.args) != 1 or not isinstance(mark.args[0], str) or not mark.args[0]:
            raise pytest.UsageError(f"{item.nodeid}: nightly(...) takes one reason, the test's "
                                    "cost and what covers it in CI")
        if not NIGHTLY:
            item.add_marker(pytest.mark.skip(reason=f"nightly profile only: {mark.args[0]}"))
    if any(item.get_closest_marker("main_job") and not item.get_closest_marker("skip")
           for item in items):
        import helpers
        helpers.start_main_job()


def pytest_sessionfinish(session, exitstatus):
    import helpers
    helpers.stop_main_job()
