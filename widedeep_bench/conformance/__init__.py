"""The conformance suite users run: ``widedeep-bench test`` or ``pytest --pyargs widedeep_bench.conformance``."""
