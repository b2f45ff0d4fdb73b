"""Engines: one runner interface (``base.Runner``) over every runtime, built once and cached (``store``).

``make_runner(name, model, options)`` gives a runner; ``available_runners()`` says which run here
and why the others do not. Runtimes are imported only when a runner of theirs is asked about.
"""

from widedeep_bench.engines.base import PRECISIONS, CompiledRunner, EngineOptions, Runner
from widedeep_bench.engines.registry import RUNNERS, available_runners, make_runner

__all__ = ["PRECISIONS", "RUNNERS", "CompiledRunner", "EngineOptions", "Runner", "available_runners",
           "make_runner"]
