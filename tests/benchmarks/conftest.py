"""The benchmark commands as modules (``benchmarks/<name>.py``, loaded from their files), tiny rows, and profiles
with chosen ``[[target]]`` tables."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
CPU_DEFAULT = Path(__file__).resolve().parents[2] / "fixtures" / "profiles" / "cpu-default.toml"
TINY_ROWS = 256


@pytest.fixture(scope="session")
def benchmark_script():
    """``benchmark_script("paired_ratio")``: ``benchmarks/paired_ratio.py`` loaded as a module from its file."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


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
