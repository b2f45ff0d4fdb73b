"""Which engine cases a run tests, and the pool that builds each engine once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from widedeep_bench.engines.base import DEFAULT_BATCH_PROFILE, EngineOptions, Runner
from widedeep_bench.engines.registry import RUNNERS, make_runner, runner_class
from widedeep_bench.engines.store import EngineStore
from widedeep_bench.errors import WidedeepError

from widedeep_bench.calibration import CalibrationSet, CalibrationUnavailable

REFERENCE_RUNNER = "tensorflow"  # the TF original: the reference, not a case under test
OVERHEAD_RUNNER = "null"  # measures the harness; only meaningful in perf
ORT_RUNNER = "onnxruntime"  # the one runner with execution providers (--wd-ort-providers)


@dataclass(frozen=True)
class EngineCase:
    backend: str
    precision: str
    unavailable: str | None  # why it cannot run here, in words; None if it can

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.precision}"


def engine_options(backend: str, precision: str, *, ort_providers: tuple[str, ...] | None = None,
                   max_batch: int = DEFAULT_BATCH_PROFILE[2],
                   calibration: CalibrationSet | CalibrationUnavailable | None = None) -> EngineOptions:
    """The options the suite builds ``backend`` with: ``ort_providers`` (priority order; None: the CPU)
    go to the onnxruntime runner only, since no other runtime has execution providers; ``calibration``
    (the run's rows) reaches the calibrated precisions only (``EngineOptions`` drops it for the others)."""
    providers = tuple(ort_providers or ()) if backend == ORT_RUNNER else ()
    return EngineOptions(precision=precision, providers=providers, max_batch=max_batch,
                         calibration=calibration)


def engine_cases(backends: tuple[str, ...] | None, precisions: tuple[str, ...], *,
                 include: tuple[str, ...] = (), ort_providers: tuple[str, ...] | None = None,
                 absent: dict[str, str] | None = None) -> list[EngineCase]:
    """Cases under test: each selected backend x precision, with the reason where it cannot run.

    Default backends are every known runner except the reference and the null runner; ``include``
    adds those where a test needs them (perf measures both). ``ort_providers``: see ``engine_options``;
    a requested provider that is not available makes the onnxruntime cases unavailable with that reason.
    ``absent``: runners this run has no model for, with the reason; they are not probed (a bundle run's TF
    original: TensorFlow is then never imported).
    """
    names = list(backends) if backends else [n for n in RUNNERS if n not in (REFERENCE_RUNNER, OVERHEAD_RUNNER)]
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        raise WidedeepError(f"--wd-backend: unknown runner(s) {unknown}; known: {sorted(RUNNERS)}")
    names = [n for n in include if n not in names] + names
    cases = []
    for name in names:
        for precision in precisions:
            options = engine_options(name, precision, ort_providers=ort_providers)
            reason = (absent or {}).get(name) or runner_class(name).unavailable_reason(options)
            cases.append(EngineCase(name, precision, reason))
    return cases


class EnginePool:
    """Activated runners by (backend, precision), built through the shared engine store once each."""

    def __init__(self, *, onnx: Path | None, saved_model: Path | None, max_batch: int, store: EngineStore,
                 ort_providers: tuple[str, ...] | None = None,
                 no_saved_model: str = "an ONNX was given without --wd-saved-model",
                 calibration: CalibrationSet | CalibrationUnavailable | None = None):
        """``no_saved_model``: why the run has no TF original, in words, when ``saved_model`` is None;
        ``calibration``: the rows INT8 engines calibrate on (None: the run builds none;
        ``CalibrationUnavailable``: why it cannot)."""
        self.onnx, self.saved_model, self.max_batch, self.store = onnx, saved_model, max_batch, store
        self.ort_providers, self.no_saved_model, self.calibration = ort_providers, no_saved_model, calibration
        self._runners: dict[tuple[str, str], Runner] = {}

    def unavailable(self, backend: str) -> str | None:
        """Why this run has no model for ``backend`` (beyond the runtime being absent), or None."""
        if backend == REFERENCE_RUNNER and self.saved_model is None:
            return f"no TF original in this run ({self.no_saved_model})"
        return None

    def get(self, backend: str, precision: str) -> Runner:
        """The runner under test for ``backend`` at ``precision`` (ONNX Runtime with the run's providers)."""
        return self._activated(backend, precision, self.ort_providers)

    def cpu_reference(self) -> Runner:
        """ONNX Runtime FP32 on the CPU provider: the "onnxruntime-fp32" reference, whatever providers the
        engines under test use (a CUDA result must never be cached or compared as the CPU reference)."""
        return self._activated(ORT_RUNNER, "fp32", None)

    def _activated(self, backend: str, precision: str, providers: tuple[str, ...] | None) -> Runner:
        options = engine_options(backend, precision, ort_providers=providers, max_batch=max(self.max_batch, 16384),
                                 calibration=self.calibration)
        key = (backend, precision, options.providers)
        if key not in self._runners:
            missing = self.unavailable(backend)
            if missing:
                raise WidedeepError(missing)
            model = self.saved_model if backend == REFERENCE_RUNNER else self.onnx
            runner = make_runner(backend, model, options, self.store)
            runner.activate()
            self._runners[key] = runner
        return self._runners[key]

    def engine_key(self, backend: str, precision: str) -> str | None:
        options = engine_options(backend, precision, ort_providers=self.ort_providers)
        runner = self._runners.get((backend, precision, options.providers))
        record = getattr(runner, "build_record", None)
        return None if record is None else str(record.key)

    def close(self) -> None:
        for runner in self._runners.values():
            runner.deactivate()
        self._runners.clear()
