"""The ``widedeep-bench bench`` command run in this process, tiny rows, and profiles with chosen ``[[target]]``
tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import widedeep_bench.profiles

CPU_DEFAULT = Path(widedeep_bench.profiles.__file__).parent / "cpu-default.toml"
TINY_ROWS = 256


@pytest.fixture
def bench_command():
    """``bench_command("engines", *argv)``: ``widedeep-bench bench engines ARGV`` in this process; its exit code,
    argparse's own refusals (an unknown option, an invalid choice: exit 2) included."""
    from widedeep_bench.__main__ import main

    def run(name: str, *argv) -> int:
        try:
            return main(["bench", name, *(str(arg) for arg in argv)])
        except SystemExit as exc:
            return exc.code
    return run


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    return write_criteo_csv(tmp_path_factory.mktemp("bench-rows") / "eval.csv", TINY_ROWS)


@pytest.fixture
def profile_with(tmp_path):
    """``profile_with(*targets)``: a copy of cpu-default.toml whose only ``[[target]]`` tables are ``targets``,
    each ``(benchmark, metric, {"min": .., "max": ..})``; returns its path."""
    def write(*targets) -> Path:
        text = re.split(r"^\[\[target\]\]", CPU_DEFAULT.read_text(), flags=re.M)[0]
        for benchmark, metric, bounds in targets:
            text += (f'\n[[target]]\nbenchmark = "{benchmark}"\nmetric = "{metric}"\n'
                     + "".join(f"{key} = {value!r}\n" for key, value in bounds.items()) + 'why = "a test"\n')
        path = tmp_path / "profile.toml"
        path.write_text(text)
        return path
    return write

