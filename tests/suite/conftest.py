"""Running the conformance suite and the ``report`` command as a user does: in a subprocess, from the
repository root, with the test's own cache and none of the caller's ``WIDEDEEP_*`` settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_suite(tmp_path):
    """``run_suite(*pytest_args, env=None, cache=None, tests="widedeep_bench/conformance")`` -> CompletedProcess.

    Every ``WIDEDEEP_*`` variable of the calling environment is dropped (a developer's own profile or
    backend must not leak into a test); ``env`` adds the ones a test means to set."""
    def run(*args, env=None, cache=None, tests="widedeep_bench/conformance"):
        environment = {name: value for name, value in os.environ.items() if not name.startswith("WIDEDEEP_")}
        environment.update({"WIDEDEEP_CACHE": str(cache or tmp_path / "cache"), "WIDEDEEP_QUIET": "1"})
        environment.update(env or {})  # a test's own settings win, WIDEDEEP_CACHE included
        return subprocess.run([sys.executable, "-m", "pytest", tests, "-p", "no:cacheprovider", *args],
                              cwd=REPO, env=environment, capture_output=True, text=True, timeout=900)
    return run


@pytest.fixture
def run_report():
    """``run_report(path)`` -> CompletedProcess of ``python -m widedeep_bench report PATH``."""
    def run(path):
        return subprocess.run([sys.executable, "-m", "widedeep_bench", "report", str(path)], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    return run
