"""The conformance suite users run: ``widedeep-bench test`` or ``pytest --pyargs widedeep_bench.conformance``."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent  # the shipped tests, and suite.ini beside them
