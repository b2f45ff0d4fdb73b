"""Root conftest: settings shared by the whole suite."""

import os


def pytest_configure(config):
    # The library's progress bars and narration follow pytest's own verbosity.
    if config.getoption("verbose") < 0:
        os.environ["WIDEDEEP_QUIET"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins = ["widedeep_bench.pytest_plugin"]
