"""Reports written to files and the CLI run in-process on them, as a user runs ``widedeep-bench``."""

import json

import pytest


@pytest.fixture
def write(tmp_path):
    """``write(report, name)`` -> the path of ``report`` saved as JSON (a str is written as it is)."""
    def save(report, name="report.json"):
        path = tmp_path / name
        path.write_text(report if isinstance(report, str) else json.dumps(report, indent=2))
        return path
    return save


@pytest.fixture
def cli(capsys):
    """``cli(*args)`` -> (exit code, stdout, stderr) of ``widedeep-bench ARGS``."""
    from widedeep_bench.__main__ import main

    def run(*args):
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run
