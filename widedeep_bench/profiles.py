"""Hardware profiles: small TOML files naming a backend, precisions, batch sizes and the gates.

A profile is found by name in ``fixtures/profiles/<name>.toml`` or given as a path. Schema::

    name = "mr-v100-ixrt-fp16"
    description = "..."
    backends = ["ixrt"]            # runner names (widedeep_bench.engines)
    precisions = ["fp16"]
    batch_sizes = [1024]

    [accuracy]
    top1_floor = 0.745             # Top-1 >= this (the seed's gate)
    top1_max_drop = 0.001          # Top-1 >= TF original's Top-1 on the same rows - this
    auc_margin = 0.05              # AUC >= 0.5 + this, so a constant predictor never passes

    [[perf]]                       # any number of throughput gates
    backend = "ixrt"               # optional: the gate applies to this runner only (default: every one)
    precision = "fp16"
    batch = 1024
    min_samples_per_s = 77073.93   # absolute, and/or:
    min_ratio_vs_tensorflow = 1.25 # relative to the TF original measured in the same run
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from widedeep_bench.engines.registry import RUNNERS
from widedeep_bench.errors import WidedeepError

PROFILE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "profiles"
PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class PerfGate:
    backend: str | None  # None: every engine under test
    precision: str
    batch: int
    min_samples_per_s: float | None = None
    min_ratio_vs_tensorflow: float | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    backends: tuple[str, ...]
    precisions: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    top1_floor: float
    top1_max_drop: float
    auc_margin: float
    perf: tuple[PerfGate, ...] = field(default=())
    source: str = ""

    def perf_gates(self, backend: str, precision: str, batch: int) -> list[PerfGate]:
        """Every throughput gate that applies to this case (a general one and a backend's own both apply)."""
        return [g for g in self.perf if g.backend in (None, backend) and g.precision == precision
                and g.batch == batch]


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str) -> Profile:
    """Load a profile by name (``fixtures/profiles/NAME.toml``) or by path; validate every field."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise WidedeepError(f"profile {name_or_path!r} not found (looked for {path}); "
                            f"available: {available_profiles()}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise WidedeepError(f"{path}: not valid TOML: {exc}") from exc
    return _profile_from_dict(data, str(path))


def _require(data: dict, key: str, kind, where: str):
    value = data.get(key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise WidedeepError(f"{where}: {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _profile_from_dict(data: dict, source: str) -> Profile:
    accuracy = data.get("accuracy", {})
    precisions = tuple(_require(data, "precisions", list, source))
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise WidedeepError(f"{source}: precisions {unknown} not in {list(PRECISIONS)}")
    batch_sizes = tuple(_require(data, "batch_sizes", list, source))
    if not batch_sizes or not all(isinstance(b, int) and b > 0 for b in batch_sizes):
        raise WidedeepError(f"{source}: batch_sizes must be positive integers, got {list(batch_sizes)}")
    backends = tuple(_require(data, "backends", list, source))
    unknown = [b for b in backends if b not in RUNNERS]
    if unknown:
        raise WidedeepError(f"{source}: backends {unknown} are not runners; known: {sorted(RUNNERS)}")
    perf = []
    for i, gate in enumerate(data.get("perf", [])):
        where = f"{source} [[perf]] #{i + 1}"
        backend = gate.get("backend")
        if backend is not None and backend not in RUNNERS:
            raise WidedeepError(f"{where}: backend {backend!r} is not a runner; known: {sorted(RUNNERS)}")
        precision = _require(gate, "precision", str, where)
        if precision not in PRECISIONS:
            raise WidedeepError(f"{where}: precision {precision!r} not in {list(PRECISIONS)}")
        thresholds = {key: gate.get(key) for key in ("min_samples_per_s", "min_ratio_vs_tensorflow")}
        if all(value is None for value in thresholds.values()):
            raise WidedeepError(f"{where}: needs min_samples_per_s or min_ratio_vs_tensorflow")
        for key, value in thresholds.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise WidedeepError(f"{where}: {key} must be a positive number, got {value!r}")
        batch = _require(gate, "batch", int, where)
        if any((g.backend, g.precision, g.batch) == (backend, precision, batch) for g in perf):
            raise WidedeepError(f"{where}: a second gate for backend {backend or '(any)'}, {precision}, "
                                f"batch {batch}; merge them into one")
        perf.append(PerfGate(backend=backend, precision=precision, batch=batch, **thresholds))
    return Profile(
        name=_require(data, "name", str, source), description=data.get("description", ""),
        backends=backends, precisions=precisions,
        batch_sizes=batch_sizes,
        top1_floor=_require(accuracy, "top1_floor", float, f"{source} [accuracy]"),
        top1_max_drop=_require(accuracy, "top1_max_drop", float, f"{source} [accuracy]"),
        auc_margin=_require(accuracy, "auc_margin", float, f"{source} [accuracy]"),
        perf=tuple(perf), source=source)
