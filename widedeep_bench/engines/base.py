"""The runner interface every runtime implements, and the build-once step shared by compiled runtimes.

A runner is four verbs: ``name``, ``version()``, build/load (``activate()``, via ``with runner:``)
and ``infer(categorical, numeric) -> probabilities [N, 2] float32``. The public methods check state
and the feed; subclasses implement the ``*_impl`` methods only. Heavy objects (sessions, compiled
models) are created in ``activate``, never in ``__init__``, so runners can be made at collection time.
"""

from __future__ import annotations

import abc
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from widedeep_bench.digests import file_sha256, source_digest
from widedeep_bench.engines import store as engine_store
from widedeep_bench.engines.store import BuildRecord, EngineKey, EngineStore
from widedeep_bench.errors import WidedeepError
from widedeep_bench.layout import check_feed
from widedeep_bench.onnx_roles import Roles, input_roles
from widedeep_bench.precision import CALIBRATED_PRECISIONS, PRECISIONS, PrecisionEvidence

if TYPE_CHECKING:
    from widedeep_bench.calibration import CalibrationSet
DEFAULT_BATCH_PROFILE = (1, 1024, 16384)  # samples: min, opt, max


@dataclass(frozen=True)
class EngineOptions:
    """How to build and run an engine.

    ``min/opt/max_batch`` are samples (the categorical feed has 26 rows per sample); ``providers``
    are ONNX Runtime execution providers in priority order (empty: CPU only); ``threads`` is the
    intra-op thread count (None: the machine's physical cores). ``calibration``: the rows an INT8 build
    calibrates on (``widedeep_bench.calibration``); required for a calibrated precision, its digest part of
    the engine key; dropped for any other precision, so callers may pass a run's rows to every engine.
    """

    precision: str = "fp32"
    min_batch: int = DEFAULT_BATCH_PROFILE[0]
    opt_batch: int = DEFAULT_BATCH_PROFILE[1]
    max_batch: int = DEFAULT_BATCH_PROFILE[2]
    providers: tuple[str, ...] = ()
    threads: int | None = None
    calibration: CalibrationSet | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise WidedeepError(f"precision {self.precision!r}: expected one of {list(PRECISIONS)}")
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise WidedeepError(f"batch profile min/opt/max = {self.min_batch}/{self.opt_batch}/"
                                f"{self.max_batch}: expected 1 <= min <= opt <= max")
        if self.threads is not None and self.threads < 1:
            raise WidedeepError(f"threads = {self.threads}: expected at least 1")
        object.__setattr__(self, "providers", tuple(self.providers))
        if not self.calibrated:
            object.__setattr__(self, "calibration", None)
        elif self.calibration is not None and not hasattr(self.calibration, "digest"):
            # ``calibration.CalibrationUnavailable``: the run has no rows to calibrate on, and says why.
            raise WidedeepError(f"{self.precision} has no calibration rows: "
                                f"{getattr(self.calibration, 'why', self.calibration)}")

    @property
    def calibrated(self) -> bool:
        """Whether this precision is built from calibration rows (INT8)."""
        return self.precision in CALIBRATED_PRECISIONS

    def calibration_digest(self) -> str:
        """The calibration rows' digest for a calibrated precision ("" otherwise); refuses a calibrated
        precision without rows, since an INT8 engine's scales come from them."""
        if not self.calibrated:
            return ""
        if self.calibration is None:
            raise WidedeepError(f"{self.precision} needs calibration rows (EngineOptions.calibration): its "
                                f"quantization scales are measured on them")
        return self.calibration.digest

    @property
    def batch_profile(self) -> tuple[int, int, int]:
        return (self.min_batch, self.opt_batch, self.max_batch)

    def intra_op_threads(self) -> int:
        """``threads``, or the physical core count (hyper-threads slow GEMM-bound inference down)."""
        if self.threads is not None:
            return self.threads
        import joblib

        return joblib.cpu_count(only_physical_cores=True)


class Runner(abc.ABC):
    """One runtime running one model. Use as a context manager: ``with runner: runner.infer(...)``."""

    name: ClassVar[str]
    module_name: ClassVar[str]  # the Python module the runtime lives in, imported lazily
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS

    def __init__(self, model: Path | None, options: EngineOptions | None = None):
        self.model = None if model is None else Path(model)
        self.options = options or EngineOptions()
        self.roles: Roles | None = None
        self.is_active = False

    @classmethod
    def runtime(cls) -> ModuleType:
        return importlib.import_module(cls.module_name)

    @classmethod
    def version(cls) -> str:
        return cls.runtime().__version__

    @classmethod
    def unavailable_reason(cls, options: EngineOptions) -> str | None:
        """Why this runner cannot run ``options`` on this machine, or None if it can."""
        try:
            cls.runtime()
        except ImportError as exc:
            return f"{cls.module_name} not importable: {exc}"
        if options.precision not in cls.precisions:
            return f"{cls.name} runs {'/'.join(cls.precisions)} only, not {options.precision}"
        return cls.options_unsupported(options)

    @classmethod
    def options_unsupported(cls, options: EngineOptions) -> str | None:
        """Runtime-specific reasons (a missing provider, no FP16 on this CPU); None if supported."""
        return None

    @classmethod
    def accelerator_count(cls, options: EngineOptions) -> int | None:
        """How many accelerators this runner can run ``options`` on, one instance each (0: it runs on one but
        cannot count them here); None where it runs on the CPU."""
        return None

    def activate(self) -> None:
        if self.is_active:
            raise WidedeepError(f"{self.name} runner is already active; deactivate it before activating again")
        self.roles = self.activate_impl()
        self.is_active = True

    def deactivate(self) -> None:
        if not self.is_active:
            raise WidedeepError(f"{self.name} runner is not active; nothing to deactivate")
        self.is_active = False
        self.deactivate_impl()

    def __enter__(self) -> "Runner":
        self.activate()
        return self

    def __exit__(self, *exc_info) -> None:
        self.deactivate()

    def infer(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        """Probabilities ``[N, 2]`` float32 for ``categorical [26*N, 2] int64`` and ``numeric [N, 13] float32``."""
        if not self.is_active:
            raise WidedeepError(f"{self.name} runner is not active: use it as a context manager "
                                f"(with runner: ...) or call activate() first")
        samples = check_feed(categorical, numeric)
        probabilities = self.infer_impl(self.roles.feeds(categorical, numeric))
        if not isinstance(probabilities, np.ndarray) or probabilities.shape != (samples, 2) \
                or probabilities.dtype != np.float32:
            shape = getattr(probabilities, "shape", type(probabilities).__name__)
            dtype = getattr(probabilities, "dtype", "?")
            raise WidedeepError(f"{self.name} returned {self.roles.output} as {dtype} with shape {shape} for "
                                f"{samples} samples; expected [{samples}, 2] float32")
        return probabilities

    def precision_evidence(self) -> PrecisionEvidence:
        """What the active engine shows of the precision it really runs (``widedeep_bench.precision``)."""
        if not self.is_active:
            raise WidedeepError(f"{self.name} runner is not active: activate it before asking what precision "
                                f"it runs")
        return self.precision_evidence_impl()

    def precision_evidence_impl(self) -> PrecisionEvidence:
        """The runtime's own account of the precision it runs; a runner that can show none says so, which
        fails the precision gate of every reduced precision it is asked for."""
        return PrecisionEvidence.not_shown(self.options.precision, f"{self.name} cannot show the precision it runs")

    @abc.abstractmethod
    def activate_impl(self) -> Roles:
        """Load the model (building it first where needed); return its input/output names by role."""

    @abc.abstractmethod
    def deactivate_impl(self) -> None:
        """Release what ``activate_impl`` created."""

    @abc.abstractmethod
    def infer_impl(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run one validated batch: ``feeds`` by the model's input names -> ``[N, 2]`` probabilities."""


class CompiledRunner(Runner):
    """A runner that compiles an ONNX model into an artifact once per ``EngineKey`` and loads it."""

    artifact_name: ClassVar[str]
    uses_batch_profile: ClassVar[bool] = False  # True where the engine is compiled for min/opt/max

    def __init__(self, model: Path, options: EngineOptions | None = None, store: EngineStore | None = None):
        super().__init__(model, options)
        self.store = store or EngineStore()
        self.build_record: BuildRecord | None = None

    def providers(self) -> tuple[str, ...]:
        """The execution providers or device the artifact is built for (part of the key)."""
        return ()

    def device(self) -> str:
        """The device model the artifact is bound to (part of the key); "" where it runs on any machine."""
        return ""

    @classmethod
    def build_sources(cls) -> tuple[Path, ...]:
        """The source files whose code decides what the artifact holds: the module of every runner class
        this one derives from (its build and load steps), ``engines/base.py``, ``engines/store.py`` and
        ``calibration.py`` (how calibration rows are batched for an INT8 build)."""
        from widedeep_bench import calibration

        paths = [Path(inspect.getsourcefile(klass)) for klass in cls.__mro__
                 if isinstance(klass, type) and issubclass(klass, CompiledRunner)]
        paths += [Path(inspect.getsourcefile(engine_store)), Path(inspect.getsourcefile(calibration))]
        return tuple(dict.fromkeys(path.resolve() for path in paths))

    @classmethod
    def code_digest(cls) -> str:
        """Short SHA-256 over ``build_sources()``: an edited build step gives a new key, so a new build."""
        return source_digest(*cls.build_sources())[:16]

    def build_version(self) -> str:
        """The versions of what builds this artifact: the runtime's, and a quantizer's where another package
        quantizes it (part of the key)."""
        return self.version()

    def engine_key(self) -> EngineKey:
        return EngineKey(onnx_sha256=file_sha256(self.model), runner=self.name, runner_version=self.build_version(),
                         precision=self.options.precision,
                         batch_profile=self.options.batch_profile if self.uses_batch_profile else None,
                         providers=self.providers(), code=self.code_digest(), device=self.device(),
                         calibration=self.options.calibration_digest())

    def model_roles(self) -> Roles:
        """The ONNX model's roles; also proves, before any build, that it is a Wide & Deep model."""
        return input_roles(self.model)

    def build(self) -> BuildRecord:
        """Build the artifact for this model and these options, or reuse the cached one."""
        return self._build(self.model_roles())

    def _build(self, roles: Roles) -> BuildRecord:
        reason = self.unavailable_reason(self.options)
        if reason is not None:
            raise WidedeepError(f"{self.name} cannot build {self.model}: {reason}")
        self.build_record = self.store.get_or_build(self.engine_key(), self.artifact_name,
                                                    lambda directory: self.build_impl(roles, directory))
        return self.build_record

    def activate_impl(self) -> Roles:
        roles = self.model_roles()
        self.load_impl(roles, self._build(roles).artifact)
        return roles

    @abc.abstractmethod
    def build_impl(self, roles: Roles, directory: Path) -> None:
        """Compile ``self.model`` and write ``directory / artifact_name``."""

    @abc.abstractmethod
    def load_impl(self, roles: Roles, artifact: Path) -> None:
        """Load the built artifact, ready for ``infer_impl``."""
