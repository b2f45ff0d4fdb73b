"""What a suite run tests: read once from pytest options, each of which has an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass

from widedeep_bench.errors import WidedeepError
from widedeep_bench.profiles import PRECISIONS, Profile, load_profile

DEFAULT_PROFILE = "cpu-default"
DEFAULT_BATCH_SIZES = "1024,4096,16384"

# option name -> (environment variable, default, help)
OPTIONS = {
    "--wd-saved-model": ("WIDEDEEP_SAVED_MODEL", None, "the TF original (SavedModel directory)"),
    "--wd-eval-csv": ("WIDEDEEP_EVAL_CSV", None, "Criteo-format eval.csv"),
    "--wd-onnx": ("WIDEDEEP_ONNX", None, "an already-converted ONNX (no conversion; TF only for parity)"),
    "--wd-backend": ("WIDEDEEP_BACKEND", None, "runner names, comma-separated (default: every runner available)"),
    "--wd-precision": ("WIDEDEEP_PRECISION", None, "precisions, comma-separated (default: the profile's)"),
    "--wd-batch-sizes": ("WIDEDEEP_BATCH_SIZES", None,
                         f"batch sizes, comma-separated (default: the profile's, {DEFAULT_BATCH_SIZES})"),
    "--wd-profile": ("WIDEDEEP_PROFILE", DEFAULT_PROFILE, "hardware profile: a name in fixtures/profiles or a path"),
    "--wd-report": ("WIDEDEEP_REPORT", None, "write the gates and metrics as JSON to this path"),
    "--wd-save-reference": ("WIDEDEEP_SAVE_REFERENCE", None, "save reference probabilities (.npz) here"),
    "--wd-reference": ("WIDEDEEP_REFERENCE", None, "load reference probabilities (.npz) instead of computing them"),
    "--wd-rows": ("WIDEDEEP_ROWS", None, "rows of the synthetic default eval set (when it is used)"),
    "--wd-perf-rounds": ("WIDEDEEP_PERF_ROUNDS", "20", "timed rounds per perf case (after warm-up)"),
    "--wd-perf-warmup": ("WIDEDEEP_PERF_WARMUP", "3", "untimed warm-up rounds per perf case"),
}


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _positive_ints(value: str, option: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(item) for item in _csv(value))
    except ValueError as exc:
        raise WidedeepError(f"{option}={value!r}: expected comma-separated integers") from exc
    if not numbers or min(numbers) < 1:
        raise WidedeepError(f"{option}={value!r}: expected positive integers")
    return numbers


@dataclass(frozen=True)
class SuiteConfig:
    saved_model: str | None
    eval_csv: str | None
    onnx: str | None
    backends: tuple[str, ...] | None  # None: every runner available
    precisions: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    profile: Profile
    report: str | None
    save_reference: str | None
    reference: str | None
    rows: int | None
    perf_rounds: int
    perf_warmup: int

    @classmethod
    def from_pytest(cls, config) -> "SuiteConfig":
        def value(option: str) -> str | None:
            env, default, _ = OPTIONS[option]
            given = config.getoption(option)
            return given if given is not None else os.environ.get(env) or default

        profile_name = value("--wd-profile")
        profile = load_profile(profile_name)
        explicit = config.getoption("--wd-profile") is not None or "WIDEDEEP_PROFILE" in os.environ
        backends = _csv(value("--wd-backend")) or (list(profile.backends) if explicit else None)
        precisions = tuple(_csv(value("--wd-precision"))) or profile.precisions
        unknown = [p for p in precisions if p not in PRECISIONS]
        if unknown:
            raise WidedeepError(f"--wd-precision: {unknown} not in {list(PRECISIONS)}")
        batches = value("--wd-batch-sizes")
        rows = value("--wd-rows")
        return cls(
            saved_model=value("--wd-saved-model"), eval_csv=value("--wd-eval-csv"), onnx=value("--wd-onnx"),
            backends=tuple(backends) if backends else None, precisions=precisions,
            batch_sizes=_positive_ints(batches, "--wd-batch-sizes") if batches else profile.batch_sizes,
            profile=profile, report=value("--wd-report"),
            save_reference=value("--wd-save-reference"), reference=value("--wd-reference"),
            rows=_positive_ints(rows, "--wd-rows")[0] if rows else None,
            perf_rounds=_positive_ints(value("--wd-perf-rounds"), "--wd-perf-rounds")[0],
            perf_warmup=int(value("--wd-perf-warmup")))
