"""Hardware profiles: small TOML files naming the runners, precisions, batch sizes and the gates.

A profile is found by name among the files shipped beside this module (``widedeep_bench/profiles/<name>.toml``)
or given as a path. The schema is the five dataclasses below, written down once: each field is a key
(``Profile`` the top level, ``AccuracyGates`` the ``[accuracy]`` table, ``PerfGate`` each ``[[perf]]``,
``ScenarioGate`` each ``[[scenario]]`` (an MLPerf LoadGen run), ``BenchmarkTarget`` each ``[[target]]``), its
comment says what it means and which values are allowed, and a field with a default is optional. The keys
``load_profile`` accepts are read from these fields (``toml_keys``); anything else is refused with the file,
the table and the allowed keys, so a typo can never make a gate silently not apply. ``docs/profiles.md``
shows a whole file.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Callable, NoReturn

from widedeep_bench.engines.registry import RUNNERS
from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen.scenarios import DEFAULT_LATENCY_MS, SCENARIOS, settings_of_gate
from widedeep_bench.loadgen.workers import DEVICES_EXPECTED, KINDS, devices_conflict, parse_devices
from widedeep_bench.precision import PRECISIONS

PROFILE_DIR = Path(__file__).resolve().parent  # the shipped profiles: <name>.toml beside this module
MLPERF_TIERS = (99.0, 99.9)  # MLPerf's accuracy tiers for recommendation: % of the FP32 reference's AUC


@dataclass(frozen=True)
class AccuracyGates:
    """``[accuracy]``: judged on the whole eval set at batch 1024, final partial batch dropped (ByteMLPerf)."""

    top1_floor: float  # Top-1 >= this; in (0, 1). The seed's gate is 0.745
    top1_max_drop: float  # Top-1 >= the TF original's Top-1 on the same rows minus this; in [0, 1)
    # AUC >= 0.5 + this; in (0, 0.5). Not 0: a constant predictor has AUC 0.5 and would pass.
    auc_margin: float
    # MLPerf's rule: every engine's AUC >= this percent of the TF original's AUC on the same rows; 99 or 99.9
    auc_tier: float = 99.0


@dataclass(frozen=True)
class PerfGate:
    """``[[perf]]``: one throughput gate; any number of them, and every gate matching a case applies."""

    precision: str  # "fp32", "fp16", "bf16" or "int8"; one of the profile's precisions
    batch: int  # samples per call; one of the profile's batch_sizes
    backend: str | None = None  # a runner (one of the profile's backends): the gate applies to it only
    min_samples_per_s: float | None = None  # samples/s >= this; finite, > 0. This and/or:
    min_ratio_vs_tensorflow: float | None = None  # samples/s over the TF original's in the same run; finite, > 0


@dataclass(frozen=True)
class ScenarioGate:
    """``[[scenario]]``: one MLPerf LoadGen scenario of one runner and precision, and what it must reach; at
    least one of ``min_samples_per_s``, ``min_qps``, ``accuracy_tier``, and one table per (scenario,
    backend, precision)."""

    scenario: str  # "Offline", "Server" or "SingleStream" (LoadGen's scenarios)
    backend: str  # a runner; one of the profile's backends when it lists any
    precision: str  # "fp32", "fp16", "bf16" or "int8"; one of the profile's precisions
    # Offline and SingleStream only: LoadGen's samples/s >= this; finite, > 0
    min_samples_per_s: float | None = None
    # Server only, and required there: LoadGen sends Poisson arrivals at this many queries/s and must call
    # the run VALID with p99 latency <= latency_ms; finite, > 0
    min_qps: float | None = None
    latency_ms: float = DEFAULT_LATENCY_MS  # Server only: the p99 bound, ms; finite, > 0. MLPerf DLRM v1's 30 ms
    # 99 or 99.9 (MLPerf's tiers): in accuracy mode, AUC >= tier/100 x the TF original's AUC on the same rows
    accuracy_tier: float | None = None
    duration_s: float = 10.0  # LoadGen's minimum duration of each run, s; finite, > 0. 10 is LoadGen's default
    instances: int | None = None  # runner instances; a positive integer. None: one per physical core
    instance_kind: str | None = None  # "threads" or "processes" (worker processes). None: the default, threads
    # "all" or device indices "0,1": one worker-process instance per accelerator, all under one LoadGen run;
    # without instances or instance_kind = "threads"
    devices: str | None = None
    max_batch: int | None = None  # the most samples in one batcher call; positive. None: the scenario's default
    max_wait_ms: float | None = None  # how long the batcher waits to fill a batch, ms; finite, >= 0. None: the default


@dataclass(frozen=True)
class BenchmarkTarget:
    """``[[target]]``: a figure a benchmark command reports must lie in [min, max]; judged by that command,
    never by pytest. At least one of ``min`` and ``max``."""

    benchmark: str  # the benchmark that reports the figure, e.g. "engine_throughput" (widedeep_bench/bench/<name>.py)
    metric: str  # the figure's name in that benchmark's report, e.g. "ort_fp32_over_tf"
    min: float | None = None  # figure >= this; finite
    max: float | None = None  # figure <= this; finite, >= min
    why: str = field(kw_only=True)  # one line saying where the number comes from

    def met_by(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds (NaN never does)."""
        return (not math.isnan(value) and (self.min is None or value >= self.min)
                and (self.max is None or value <= self.max))

    def __str__(self) -> str:
        bounds = [f"{sign} {bound:g}" for sign, bound in ((">=", self.min), ("<=", self.max)) if bound is not None]
        return f"{self.benchmark} {self.metric} {' and '.join(bounds)}"


@dataclass(frozen=True)
class Profile:
    """The top level of a profile file."""

    name: str  # the profile's name; a shipped profile is widedeep_bench/profiles/<name>.toml
    backends: tuple[str, ...]  # runner names (widedeep_bench.engines) an explicit run tests; [] means every one
    precisions: tuple[str, ...]  # non-empty, from "fp32", "fp16", "bf16", "int8"
    batch_sizes: tuple[int, ...]  # non-empty, positive integers (samples per call)
    accuracy: AccuracyGates  # the [accuracy] table
    description: str = ""
    # ONNX Runtime execution providers in priority order, e.g. ["CUDAExecutionProvider"]; [] means the CPU
    # only. A provider that is not available is an error, never a silent CPU fallback.
    ort_providers: tuple[str, ...] = ()
    perf: tuple[PerfGate, ...] = ()  # the [[perf]] tables
    scenarios: tuple[ScenarioGate, ...] = field(default=(), metadata={"toml": "scenario"})  # [[scenario]] tables
    targets: tuple[BenchmarkTarget, ...] = field(default=(), metadata={"toml": "target"})  # [[target]] tables
    source: str = field(default="", metadata={"toml": None})  # the file it was read from (not a key)

    # The accuracy gates by their old names, which the suite's tests read.
    @property
    def top1_floor(self) -> float:
        return self.accuracy.top1_floor

    @property
    def top1_max_drop(self) -> float:
        return self.accuracy.top1_max_drop

    @property
    def auc_margin(self) -> float:
        return self.accuracy.auc_margin

    @property
    def auc_tier(self) -> float:
        return self.accuracy.auc_tier

    def perf_gates(self, backend: str, precision: str, batch: int) -> list[PerfGate]:
        """Every throughput gate that applies to this case (a general one and a backend's own both apply)."""
        return [g for g in self.perf if g.backend in (None, backend) and g.precision == precision
                and g.batch == batch]

    def targets_for(self, benchmark: str) -> list[BenchmarkTarget]:
        """The targets the benchmark command ``benchmark`` judges, in file order."""
        return [t for t in self.targets if t.benchmark == benchmark]


def toml_keys(schema: type) -> dict[str, str]:
    """``{key in the file: field name}`` for one schema dataclass; the only list of allowed keys."""
    keys = {}
    for item in fields(schema):
        key = item.metadata.get("toml", item.name)
        if key is not None:
            keys[key] = item.name
    return keys


def required_keys(schema: type) -> list[str]:
    """The keys of ``schema`` that have no default."""
    names = {item.name for item in fields(schema) if item.default is MISSING and item.default_factory is MISSING}
    return [key for key, name in toml_keys(schema).items() if name in names]


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, published as tomli
        try:
            import tomli as tomllib
        except ModuleNotFoundError as exc:
            raise WidedeepError("reading a profile on Python < 3.11 needs the tomli package "
                                "(pip install tomli)") from exc
    return tomllib


def load_profile(name_or_path: str) -> Profile:
    """Load a profile by name (a shipped ``NAME.toml``) or by path; validate every key and value."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise WidedeepError(f"profile {name_or_path!r} not found (looked for {path}); "
                            f"available: {available_profiles()}")
    toml = _toml()
    try:
        data = toml.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise WidedeepError(f"{path}: cannot read the profile: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise WidedeepError(f"{path}: not valid TOML: not UTF-8 ({exc})") from exc
    except toml.TOMLDecodeError as exc:
        raise WidedeepError(f"{path}: not valid TOML: {exc}") from exc
    return profile_from_dict(data, str(path))


class _Table:
    """One TOML table read against its schema dataclass; every message names the file and the table."""

    def __init__(self, data: dict, schema: type, source: str, label: str = ""):
        self.data, self.where = data, f"{source}: {label}"
        allowed = toml_keys(schema)
        for key, value in data.items():
            if key not in allowed:
                # In TOML a key written below a [table] belongs to that table, not to the top level.
                hint = "; top-level keys go above the first [table]" if schema is not Profile and \
                    key in toml_keys(Profile) else ""
                self.fail_key(key, value, f"unknown {_kind(value)}; allowed: {sorted(allowed)}{hint}")
        missing = [key for key in required_keys(schema) if key not in data]
        if missing:
            raise WidedeepError(f"{self.where}missing {missing}; required: {required_keys(schema)}")

    def fail(self, key: str, expected: str) -> NoReturn:
        raise WidedeepError(f"{self.where}{key} = {_shown(self.data[key])}: expected {expected}")

    def fail_key(self, key: str, value, why: str) -> NoReturn:
        shown = f"[{key}]" if isinstance(value, dict) else f"[[{key}]]" if _is_tables(value) else key
        raise WidedeepError(f"{self.where}{shown}: {why}")

    def number(self, key: str, expected: str, accept: Callable[[float], bool]) -> float | None:
        """The value as a float if it is a finite number (not a bool) that ``accept``s; None if absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not accept(value):
            self.fail(key, expected)
        return float(value)

    def positive_int(self, key: str) -> int | None:
        """The value if it is a positive integer (not a bool); None if absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(key, "a positive integer")
        return value

    def string(self, key: str, *, default: str | None = None, may_be_empty: bool = False,
               one_line: bool = False) -> str | None:
        value = self.data.get(key, default)
        if key in self.data and not (isinstance(value, str) and (may_be_empty or value.strip())
                                     and not (one_line and "\n" in value)):
            self.fail(key, f"a {'' if may_be_empty else 'non-empty '}{'one-line ' if one_line else ''}string")
        return value

    def choice(self, key: str, allowed: list[str], what: str) -> str | None:
        """An optional string that must be one of ``allowed``; None if absent."""
        value = self.data.get(key)
        if key in self.data and not (isinstance(value, str) and value in allowed):
            self.fail(key, f"{what}, one of {allowed}")
        return value

    def items(self, key: str, accept: Callable[[object], bool], expected: str, *,
              empty_ok: bool) -> tuple:
        """A list whose every item ``accept``s, without repeats."""
        value = self.data.get(key, [])
        if not isinstance(value, list) or (not value and not empty_ok) or not all(accept(v) for v in value):
            self.fail(key, f"a {'' if empty_ok else 'non-empty '}list of {expected}")
        repeated = sorted({repr(v) for v in value if value.count(v) > 1})
        if repeated:
            self.fail(key, f"each item once; repeated: {', '.join(repeated)}")
        return tuple(value)

    def tables(self, key: str) -> list[dict]:
        value = self.data.get(key, [])
        if not _is_tables(value):
            self.fail_key(key, value, f"must be written [[{key}]] (a list of tables), not {_shown(value)}")
        return value


def _kind(value) -> str:
    return "table" if isinstance(value, dict) or _is_tables(value) else "key"


def _is_tables(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _shown(value) -> str:
    return f"table {value}" if isinstance(value, dict) else repr(value)


def _is_name(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def profile_from_dict(data: dict, source: str) -> Profile:
    """Validate a parsed profile (``source`` names its file in every message) and build it."""
    top = _Table(data, Profile, source)
    backends = top.items("backends", lambda b: isinstance(b, str) and b in RUNNERS,
                         f"runner names from {sorted(RUNNERS)}", empty_ok=True)
    precisions = top.items("precisions", lambda p: isinstance(p, str) and p in PRECISIONS,
                           f"precisions from {list(PRECISIONS)}", empty_ok=False)
    batch_sizes = top.items("batch_sizes", lambda b: isinstance(b, int) and not isinstance(b, bool) and b > 0,
                            "positive integers", empty_ok=False)
    ort_providers = top.items("ort_providers", _is_name,
                              'non-empty ONNX Runtime provider names, e.g. ["CUDAExecutionProvider"]',
                              empty_ok=True)
    if ort_providers and backends and "onnxruntime" not in backends:
        top.fail("ort_providers", f"backends to include onnxruntime (they are {list(backends)}), "
                                  f"or no ort_providers: they would never apply")
    accuracy = data["accuracy"]
    if not isinstance(accuracy, dict):
        top.fail("accuracy", "a table [accuracy]")
    profile = Profile(
        name=top.string("name"), description=top.string("description", default="", may_be_empty=True),
        backends=backends, precisions=precisions, batch_sizes=batch_sizes, ort_providers=ort_providers,
        accuracy=_accuracy(_Table(accuracy, AccuracyGates, source, "[accuracy] ")),
        perf=_perf_gates(top.tables("perf"), source), scenarios=_scenario_gates(top.tables("scenario"), source),
        targets=_targets(top.tables("target"), source), source=source)
    for number, gate in enumerate(profile.perf, 1):
        _check_gate_applies(gate, profile, f"{source}: [[perf]] #{number} ")
    for number, scenario in enumerate(profile.scenarios, 1):
        _check_gate_applies(scenario, profile, f"{source}: [[scenario]] #{number} ")
    return profile


def _accuracy(table: _Table) -> AccuracyGates:
    return AccuracyGates(
        top1_floor=table.number("top1_floor", "a number in (0, 1)", lambda v: 0 < v < 1),
        top1_max_drop=table.number("top1_max_drop", "a number in [0, 1)", lambda v: 0 <= v < 1),
        auc_margin=table.number("auc_margin", "a number in (0, 0.5): AUC >= 0.5 + margin, and a constant "
                                              "predictor has AUC 0.5", lambda v: 0 < v < 0.5),
        auc_tier=_tier(table, "auc_tier", default=AccuracyGates.auc_tier))


def _tier(table: _Table, key: str, default: float | None = None) -> float | None:
    """One of MLPerf's accuracy tiers (99 or 99.9), or ``default`` where the key is absent."""
    tier = table.number(key, "99 or 99.9 (MLPerf's accuracy tiers)", lambda v: v in MLPERF_TIERS)
    return default if tier is None else tier


def _perf_gates(tables: list[dict], source: str) -> tuple[PerfGate, ...]:
    gates: list[PerfGate] = []
    for number, data in enumerate(tables, 1):
        table = _Table(data, PerfGate, source, f"[[perf]] #{number} ")
        gate = PerfGate(
            backend=table.choice("backend", sorted(RUNNERS), "a runner"),
            precision=table.choice("precision", list(PRECISIONS), "a precision"), batch=table.positive_int("batch"),
            min_samples_per_s=table.number("min_samples_per_s", "a finite number > 0", lambda v: v > 0),
            min_ratio_vs_tensorflow=table.number("min_ratio_vs_tensorflow", "a finite number > 0", lambda v: v > 0))
        if gate.min_samples_per_s is None and gate.min_ratio_vs_tensorflow is None:
            raise WidedeepError(f"{table.where}needs min_samples_per_s or min_ratio_vs_tensorflow (or both)")
        if any((g.backend, g.precision, g.batch) == (gate.backend, gate.precision, gate.batch) for g in gates):
            raise WidedeepError(f"{table.where}a second gate for backend {gate.backend or '(any)'}, "
                                f"{gate.precision}, batch {gate.batch}; merge them into one")
        gates.append(gate)
    return tuple(gates)


def _check_gate_applies(gate: PerfGate | ScenarioGate, profile: Profile, where: str) -> None:
    """A gate for a case the profile does not measure would never be evaluated: refuse it."""
    outside = [f"{key} {value!r} is not one of the profile's {name} {list(among)}" for key, value, name, among in (
        ("batch", getattr(gate, "batch", None), "batch_sizes", profile.batch_sizes),  # a [[scenario]] has none
        ("precision", gate.precision, "precisions", profile.precisions),
        ("backend", gate.backend, "backends", profile.backends)) if among and value is not None and value not in among]
    if outside:
        raise WidedeepError(f"{where}{'; '.join(outside)}, so the gate would never apply")


def _scenario_gates(tables: list[dict], source: str) -> tuple[ScenarioGate, ...]:
    gates: list[ScenarioGate] = []
    for number, data in enumerate(tables, 1):
        table = _Table(data, ScenarioGate, source, f"[[scenario]] #{number} ")
        positive = "a finite number > 0"
        given = dict(
            scenario=table.choice("scenario", list(SCENARIOS), "a LoadGen scenario"),
            backend=table.choice("backend", sorted(RUNNERS), "a runner"),
            precision=table.choice("precision", list(PRECISIONS), "a precision"),
            min_samples_per_s=table.number("min_samples_per_s", positive, lambda v: v > 0),
            min_qps=table.number("min_qps", positive, lambda v: v > 0),
            latency_ms=table.number("latency_ms", positive, lambda v: v > 0),
            accuracy_tier=_tier(table, "accuracy_tier"),
            duration_s=table.number("duration_s", positive, lambda v: v > 0),
            instances=table.positive_int("instances"), max_batch=table.positive_int("max_batch"),
            instance_kind=table.choice("instance_kind", list(KINDS), "an instance kind"),
            devices=_devices(table, "devices"),
            max_wait_ms=table.number("max_wait_ms", "a finite number >= 0", lambda v: v >= 0))
        gate = ScenarioGate(**{key: value for key, value in given.items() if value is not None})
        _check_scenario_keys(table, gate)
        try:  # the bounds LoadGen's settings have (durations, rates, waits), checked where they are written
            settings_of_gate(gate)
        except WidedeepError as exc:
            raise WidedeepError(f"{table.where}{exc}") from exc
        if any((g.scenario, g.backend, g.precision) == (gate.scenario, gate.backend, gate.precision) for g in gates):
            raise WidedeepError(f"{table.where}a second table for {gate.scenario}, backend {gate.backend}, "
                                f"{gate.precision}; merge them into one")
        gates.append(gate)
    return tuple(gates)


def _devices(table: _Table, key: str) -> str | None:
    """``"all"`` or distinct device indices ``"0,1"``; None if absent."""
    value = table.string(key)
    if value is None:
        return None
    try:
        parse_devices(value)
    except WidedeepError:
        table.fail(key, DEVICES_EXPECTED)
    conflict = devices_conflict("instances" in table.data, table.data.get("instance_kind"))
    if conflict:
        table.fail_key(key, value, f"{conflict} (instances, instance_kind = \"threads\")")
    return value


def _check_scenario_keys(table: _Table, gate: ScenarioGate) -> None:
    """Each key must mean something for the table's scenario: a key that would do nothing is a typo."""
    server = gate.scenario == "Server"
    if server and gate.min_qps is None:
        raise WidedeepError(f"{table.where}missing min_qps: a Server table needs the target QPS LoadGen runs it at")
    if server and gate.min_samples_per_s is not None:
        table.fail_key("min_samples_per_s", None, "Server is judged by min_qps at its latency bound, not by samples/s")
    if not server and gate.min_qps is not None:
        table.fail_key("min_qps", None, f"only Server has a target QPS; {gate.scenario} is judged by "
                                        f"min_samples_per_s")
    if not server and "latency_ms" in table.data:
        table.fail_key("latency_ms", None, f"only Server has a latency bound; {gate.scenario} has none")
    if gate.min_samples_per_s is None and gate.min_qps is None and gate.accuracy_tier is None:
        raise WidedeepError(f"{table.where}needs min_samples_per_s or accuracy_tier (or both)")


def _targets(tables: list[dict], source: str) -> tuple[BenchmarkTarget, ...]:
    targets: list[BenchmarkTarget] = []
    for number, data in enumerate(tables, 1):
        table = _Table(data, BenchmarkTarget, source, f"[[target]] #{number} ")
        target = BenchmarkTarget(
            benchmark=table.string("benchmark"), metric=table.string("metric"),
            min=table.number("min", "a finite number", lambda v: True),
            max=table.number("max", "a finite number", lambda v: True),
            why=table.string("why", one_line=True))
        if target.min is None and target.max is None:
            raise WidedeepError(f"{table.where}needs min or max (or both)")
        if target.min is not None and target.max is not None and target.min > target.max:
            raise WidedeepError(f"{table.where}min = {target.min:g} > max = {target.max:g}: no figure can meet it")
        if any((t.benchmark, t.metric) == (target.benchmark, target.metric) for t in targets):
            raise WidedeepError(f"{table.where}a second target for {target.benchmark} {target.metric}; "
                                f"merge them into one")
        targets.append(target)
    return tuple(targets)
