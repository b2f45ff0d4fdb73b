"""Fixtures of the core modules' tests."""

from pathlib import Path

import pytest


@pytest.fixture
def private_cache(tmp_path, monkeypatch) -> Path:
    """A ``WIDEDEEP_CACHE`` of the test's own, and no narration; the tests of cache modules use it throughout."""
    root = tmp_path / "cache"
    monkeypatch.setenv("WIDEDEEP_CACHE", str(root))
    monkeypatch.setenv("WIDEDEEP_QUIET", "1")
    return root
