"""The conformance suite's machinery: options, the session's results, reference probabilities.

The pytest hooks and fixtures that use it live in ``widedeep_bench.pytest_plugin``.
"""
