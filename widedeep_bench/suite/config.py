"""What a suite run tests: read once from pytest options, each of which has an environment variable.

An option given on the command line beats its environment variable, which beats the default; an empty
environment variable counts as unset (for a flag it means false). A bad value is one ``WidedeepError``
naming what the user typed, the option (``--wd-perf-warmup='abc'``) or the variable
(``WIDEDEEP_PERF_WARMUP='abc'``), and what was expected; the plugin turns it into a usage error.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from dataclasses import dataclass, replace

from widedeep_bench.engines.registry import RUNNERS
from widedeep_bench.errors import WidedeepError
from widedeep_bench.precision import CALIBRATED_PRECISIONS, PRECISIONS
from widedeep_bench.profiles import Profile, load_profile
from widedeep_bench.suite.engines import REFERENCE_RUNNER

DEFAULT_PROFILE = "cpu-default"
DEFAULT_BATCH_SIZES = "1024,4096,16384"
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes"), ("0", "false", "no", "")


@dataclass(frozen=True)
class OptionSpec:
    """One suite option: its environment variable, default (as typed), help, and whether it is a flag
    (``--wd-allow-missing``: no value on the command line; "1"/"true"/"yes" or "0"/"false"/"no" in the
    environment)."""

    env: str
    default: str | None
    help: str
    flag: bool = False


OPTIONS = {
    "--wd-saved-model": OptionSpec("WIDEDEEP_SAVED_MODEL", None, "the TF original (SavedModel directory)"),
    "--wd-eval-csv": OptionSpec("WIDEDEEP_EVAL_CSV", None, "Criteo-format eval.csv"),
    "--wd-onnx": OptionSpec("WIDEDEEP_ONNX", None, "an already-converted ONNX (no conversion; TF only for parity)"),
    "--wd-bundle": OptionSpec("WIDEDEEP_BUNDLE", None,
                              "a bundle directory written by `widedeep-bench bundle` on a machine with TensorFlow: "
                              "the run tests its ONNX against its reference probabilities on its eval set, and "
                              "needs no TensorFlow; instead of --wd-saved-model, --wd-eval-csv, --wd-onnx, "
                              "--wd-reference and --wd-rows"),
    "--wd-backend": OptionSpec("WIDEDEEP_BACKEND", None,
                               "runner names, comma-separated (default: every runner available); a named "
                               "runner that cannot run here fails the run"),
    "--wd-precision": OptionSpec("WIDEDEEP_PRECISION", None, "precisions, comma-separated (default: the profile's)"),
    "--wd-batch-sizes": OptionSpec("WIDEDEEP_BATCH_SIZES", None,
                                   f"batch sizes, comma-separated (default: the profile's, {DEFAULT_BATCH_SIZES})"),
    "--wd-profile": OptionSpec("WIDEDEEP_PROFILE", DEFAULT_PROFILE,
                               "hardware profile: a shipped profile's name (widedeep_bench/profiles) or a path; a named profile's runners "
                               "must run here"),
    "--wd-ort-providers": OptionSpec("WIDEDEEP_ORT_PROVIDERS", None,
                                     "ONNX Runtime execution providers in priority order, comma-separated, e.g. "
                                     "CUDAExecutionProvider (default: the profile's, else the CPU only); one that "
                                     "is not available fails the run"),
    "--wd-allow-missing": OptionSpec("WIDEDEEP_ALLOW_MISSING", None,
                                     "exploratory run: a named runner that cannot run here skips, and its gates "
                                     "are listed as NOT RUN instead of failing the run", flag=True),
    "--wd-report": OptionSpec("WIDEDEEP_REPORT", None, "write the gates and metrics as JSON to this path"),
    "--wd-save-reference": OptionSpec("WIDEDEEP_SAVE_REFERENCE", None, "save reference probabilities (.npz) here"),
    "--wd-reference": OptionSpec("WIDEDEEP_REFERENCE", None,
                                 "load reference probabilities (.npz) instead of computing them"),
    "--wd-loadgen-out": OptionSpec("WIDEDEEP_LOADGEN_OUT", None,
                                   "keep the scenario gates' LoadGen logs here, one directory per [[scenario]] "
                                   "table (default: pytest's temporary directory)"),
    "--wd-calibration-csv": OptionSpec("WIDEDEEP_CALIBRATION_CSV", None,
                                       "Criteo-format rows INT8 engines calibrate on, none of them in the eval set "
                                       "(default: the synthetic default's training rows, or the last 16384 eval rows "
                                       "held out of scoring)"),
    "--wd-rows": OptionSpec("WIDEDEEP_ROWS", None, "rows of the synthetic default eval set (when it is used)"),
    "--wd-perf-rounds": OptionSpec("WIDEDEEP_PERF_ROUNDS", "20", "minimum timed rounds per perf case"),
    "--wd-perf-warmup": OptionSpec("WIDEDEEP_PERF_WARMUP", "3", "minimum untimed warm-up rounds per perf case"),
    "--wd-perf-duration": OptionSpec("WIDEDEEP_PERF_DURATION", "1.0",
                                     "minimum measured seconds per perf case (as trtexec --duration)"),
}


@dataclass(frozen=True)
class Given:
    """An option's value and where it came from: ``name`` is the option or the environment variable
    the user typed, or "" for the default."""

    value: str | None
    name: str

    def fail(self, expected: str) -> WidedeepError:
        return WidedeepError(f"{self.name or 'default'}={self.value!r}: expected {expected}")

    def integer(self, minimum: int) -> int:
        text = self.value.strip()
        if not (text.isascii() and text.isdigit()) or int(text) < minimum:
            raise self.fail(f"an integer >= {minimum}")
        return int(text)

    def seconds(self) -> float:
        try:
            number = float(self.value)
        except ValueError:
            raise self.fail("a number of seconds > 0") from None
        if not math.isfinite(number) or number <= 0:
            raise self.fail("a number of seconds > 0")
        return number

    def items(self, expected: str) -> tuple[str, ...]:
        """Comma-separated items, each given once."""
        items = [item.strip() for item in self.value.split(",")]
        if not all(items):
            raise self.fail(f"comma-separated {expected}")
        repeated = sorted({item for item in items if items.count(item) > 1})
        if repeated:
            raise self.fail(f"comma-separated {expected}, each once; repeated: {', '.join(repeated)}")
        return tuple(items)

    def choices(self, allowed, what: str) -> tuple[str, ...]:
        items = self.items(what)
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise self.fail(f"{what} from {list(allowed)}; unknown: {unknown}")
        return items

    def positive_ints(self) -> tuple[int, ...]:
        expected = "comma-separated positive integers, e.g. 1024,4096"
        items = [item.strip() for item in self.value.split(",")]
        if not all(item.isascii() and item.isdigit() and int(item) > 0 for item in items):
            raise self.fail(expected)
        numbers = [int(item) for item in items]
        repeated = sorted({n for n in numbers if numbers.count(n) > 1})
        if repeated:
            raise self.fail(f"{expected}, each once; repeated: {', '.join(map(str, repeated))}")
        return tuple(numbers)

    def flag(self) -> bool:
        if self.value is True:  # given on the command line
            return True
        word = (self.value or "").strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise self.fail(f"one of {list(TRUE_WORDS)} (true) or {list(FALSE_WORDS[:-1])} or empty (false)")
        return word in TRUE_WORDS


# Options whose value makes the run required to measure something (fail closed): set but empty, their
# variable is more likely a shell variable that was never filled in than a wish for the exploratory run.
MUST_NOT_BE_EMPTY = ("--wd-profile", "--wd-backend", "--wd-ort-providers", "--wd-bundle")
# What a bundle brings itself: given beside --wd-bundle, they would be a second source of truth.
BUNDLE_EXCLUDES = ("--wd-saved-model", "--wd-eval-csv", "--wd-onnx", "--wd-reference", "--wd-rows")


def given(config, option: str) -> Given:
    """``option``'s value from the command line, else its environment variable, else its default.

    An empty variable counts as unset, except for ``MUST_NOT_BE_EMPTY``: there it is an error, so that
    ``WIDEDEEP_PROFILE=$UNSET`` can never turn an acceptance run into the exploratory default."""
    spec = OPTIONS[option]
    value = config.getoption(option)
    if value is not None:
        return Given(value, option)
    if spec.flag and spec.env in os.environ:
        return Given(os.environ[spec.env], spec.env)
    if option in MUST_NOT_BE_EMPTY and spec.env in os.environ and not os.environ[spec.env].strip():
        raise WidedeepError(f"{spec.env} is set but empty: give it a value, or unset it for the exploratory "
                            f"default run")
    if os.environ.get(spec.env):
        return Given(os.environ[spec.env], spec.env)
    return Given(spec.default, "")


@dataclass(frozen=True)
class SuiteConfig:
    saved_model: str | None
    eval_csv: str | None
    onnx: str | None
    backends: tuple[str, ...] | None  # None: every runner known (absent ones skip)
    precisions: tuple[str, ...]
    batch_sizes: tuple[int, ...]  # samples per call
    profile: Profile
    report: str | None
    save_reference: str | None
    reference: str | None
    rows: int | None
    perf_rounds: int  # minimum timed rounds per perf case
    perf_warmup: int  # minimum untimed warm-up rounds per perf case
    perf_duration_s: float = 1.0  # minimum measured seconds per perf case (as trtexec --duration)
    # ONNX Runtime execution providers in priority order: --wd-ort-providers, else the profile's;
    # None: neither names any, the CPU only.
    ort_providers: tuple[str, ...] | None = None
    allow_missing: bool = False  # --wd-allow-missing: a named runner that cannot run here skips (NOT RUN)
    backends_named: bool = False  # --wd-backend (or its variable) named the runners
    providers_named: bool = False  # --wd-ort-providers (or its variable) was given
    # The run names what it tests (a profile, backends or providers): a named runner that cannot run here
    # then fails the run instead of skipping, unless allow_missing.
    strict: bool = False
    # --wd-bundle: the directory as given, and the option or variable that gave it. Once the bundle is
    # verified (``with_bundle``), onnx, eval_csv and reference are its files.
    bundle: str | None = None
    bundle_option: str = "--wd-bundle"
    loadgen_out: str | None = None  # --wd-loadgen-out: where the scenario gates' LoadGen logs are kept
    calibration_csv: str | None = None  # --wd-calibration-csv: the rows INT8 engines calibrate on

    @property
    def calibrates(self) -> bool:
        """Whether an engine of this run is built from calibration rows (an INT8 case or scenario)."""
        precisions = set(self.precisions) | {gate.precision for gate in self.profile.scenarios}
        return bool(precisions & set(CALIBRATED_PRECISIONS))

    def must_run(self, backend: str) -> bool:
        """Whether ``backend`` not running here fails the run (fail closed) instead of skipping: the profile
        given explicitly or ``--wd-backend`` names it, or it is onnxruntime and providers were named."""
        return backend in (self.backends or ()) or (self.providers_named and backend == "onnxruntime")

    def with_bundle(self, bundle) -> "SuiteConfig":
        """This configuration running from ``bundle`` (a verified ``widedeep_bench.bundle.Bundle``)."""
        return replace(self, onnx=str(bundle.onnx), eval_csv=str(bundle.eval_csv), reference=str(bundle.reference))

    @classmethod
    def from_pytest(cls, config) -> "SuiteConfig":
        def value(option: str) -> str | None:
            return given(config, option).value

        bundle_option = _bundle_option(config)
        profile_option = given(config, "--wd-profile")
        profile = load_profile(profile_option.value)
        profile_named = bool(profile_option.name)
        backend_option, providers_option = given(config, "--wd-backend"), given(config, "--wd-ort-providers")
        backends = backend_option.choices(sorted(RUNNERS), "runner names") if backend_option.value is not None \
            else ((profile.backends or None) if profile_named else None)
        if backends is not None and REFERENCE_RUNNER in backends:
            named_by = backend_option.name if backend_option.value is not None else profile.source
            raise WidedeepError(f"{named_by}: {REFERENCE_RUNNER} is the TF original, the reference every engine is "
                                f"compared with, so every gate on it would pass by construction; it cannot be an "
                                f"engine under test (perf measures it in every run as the baseline peer)")
        precision_option = given(config, "--wd-precision")
        batch_option, rows_option = given(config, "--wd-batch-sizes"), given(config, "--wd-rows")
        providers = profile.ort_providers
        if providers_option.value is not None:
            providers = providers_option.items("ONNX Runtime provider names, e.g. CUDAExecutionProvider")
            if backends is not None and "onnxruntime" not in backends:
                raise providers_option.fail(f"a run that tests onnxruntime: providers apply to it only, and "
                                            f"this run tests {list(backends)}")
        suite = cls(
            saved_model=value("--wd-saved-model"), eval_csv=value("--wd-eval-csv"), onnx=value("--wd-onnx"),
            backends=backends,
            precisions=precision_option.choices(PRECISIONS, "precisions") if precision_option.value is not None
            else profile.precisions,
            batch_sizes=batch_option.positive_ints() if batch_option.value is not None else profile.batch_sizes,
            profile=profile, report=value("--wd-report"),
            save_reference=value("--wd-save-reference"), reference=value("--wd-reference"),
            rows=rows_option.integer(1) if rows_option.value is not None else None,
            perf_rounds=given(config, "--wd-perf-rounds").integer(1),
            perf_warmup=given(config, "--wd-perf-warmup").integer(0),
            perf_duration_s=given(config, "--wd-perf-duration").seconds(),
            ort_providers=providers or None,
            allow_missing=given(config, "--wd-allow-missing").flag(),
            backends_named=backend_option.value is not None, providers_named=providers_option.value is not None,
            strict=profile_named or backend_option.value is not None or providers_option.value is not None,
            bundle=bundle_option.value, bundle_option=bundle_option.name or "--wd-bundle",
            loadgen_out=value("--wd-loadgen-out"), calibration_csv=value("--wd-calibration-csv"))
        _check_calibration_csv(given(config, "--wd-calibration-csv"), suite)
        return suite


def _check_calibration_csv(option: Given, suite: SuiteConfig) -> None:
    """``--wd-calibration-csv`` names a file (or stream) that exists, for a run that calibrates: given to a
    run without an INT8 engine it would be silently unused."""
    if option.value is None:
        return
    if not suite.calibrates:
        raise option.fail(f"a run with an INT8 engine or scenario to calibrate; this one runs precisions "
                          f"{list(suite.precisions)}")
    if not option.value.strip() or not Path(option.value).exists():
        raise option.fail("a Criteo-format CSV file of calibration rows; there is no such file")


def _bundle_option(config) -> Given:
    """``--wd-bundle`` (or its variable), refused beside an option that names what a bundle brings itself."""
    bundle = given(config, "--wd-bundle")
    if bundle.value is None:
        return bundle
    if not bundle.value.strip():
        raise bundle.fail("a bundle directory (written by `widedeep-bench bundle`)")
    for option in BUNDLE_EXCLUDES:
        other = given(config, option)
        if other.value is not None:
            why = ("it shapes the synthetic default, and a bundle run uses the bundle's eval set"
                   if option == "--wd-rows" else "a bundle brings its own ONNX, reference probabilities and eval "
                   "set (one source of truth)")
            raise WidedeepError(f"{bundle.name}={bundle.value!r} and {other.name}={other.value!r} cannot be given "
                                f"together: {why}; give one or the other")
    return bundle
