"""One LoadGen run from its settings, and what is built of runs: the null runner's ceiling, the Server peak
search and the compliance check.

Every result carries LoadGen's own verdict (``valid``: ``result_validity`` is VALID) and its figures as its
detail log gives them; nothing here times anything. A run whose runner failed a batch raises.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from widedeep_bench.errors import WidedeepError
from widedeep_bench.loadgen import logs
from widedeep_bench.loadgen.sut import ResponsePool, SampleLibrary, SystemUnderTest, loadgen_module
from widedeep_bench.progress import say

SCENARIOS = ("Offline", "Server", "SingleStream")
MODES = ("performance", "accuracy")  # compliance is an accuracy run and a logged performance run
DEFAULT_LATENCY_MS = 30.0  # MLPerf DLRM v1's Server bound at p99 (SPEC section 8)
DEFAULT_MAX_BATCH = {"Offline": 4096, "Server": 1024, "SingleStream": 1}
DEFAULT_MAX_WAIT_MS = 0.0  # greedy: a free instance takes what is queued (measured: a wait halves the Server peak on 2 cores)
ESTIMATE_ROUNDS = 5  # batches timed to estimate Offline's expected samples/s and SingleStream's latency
# An Offline query sized from an estimate that came out low finishes before LoadGen's minimum duration (INVALID);
# one sized high only runs longer: the estimate is raised by half, against load that comes and goes.
ESTIMATE_MARGIN = 1.5
PEAK_TRIES = 6  # Server runs a peak search makes unless told otherwise
WARMUP_CALLS = 3  # untimed calls per instance and batch size before LoadGen starts its clock
# Bounds that keep every setting within LoadGen's integer fields and a query within memory.
MAX_DURATION_S, MAX_LATENCY_MS, MAX_WAIT_MS, MAX_QPS, MAX_SEED = 86_400.0, 60_000.0, 1_000.0, 1e8, 2**63 - 1


@dataclass(frozen=True)
class ScenarioSettings:
    """What LoadGen is asked to do. ``target_qps``: Server's arrival rate (Poisson), or Offline's expected
    samples/s (None: estimated from a few batches, so the run lasts at least ``duration_s``)."""

    scenario: str
    mode: str = "performance"
    duration_s: float = 10.0  # LoadGen's min_duration
    target_qps: float | None = None
    latency_ms: float = DEFAULT_LATENCY_MS  # Server: the bound on the p99 latency
    max_batch: int | None = None  # None: DEFAULT_MAX_BATCH of the scenario
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    log_probability: float = 0.0  # performance mode: the fraction of responses logged (compliance)
    min_query_count: int = 100  # LoadGen's default
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.scenario not in SCENARIOS:
            problems.append(f"scenario {self.scenario!r}: expected one of {list(SCENARIOS)}")
        if self.mode not in MODES:
            problems.append(f"mode {self.mode!r}: expected one of {list(MODES)}")
        if not (math.isfinite(self.duration_s) and 0 < self.duration_s <= MAX_DURATION_S):
            problems.append(f"duration {self.duration_s!r} s: expected a number in (0, {MAX_DURATION_S:g}]")
        if self.target_qps is not None and not (math.isfinite(self.target_qps) and 0 < self.target_qps <= MAX_QPS):
            problems.append(f"target QPS {self.target_qps!r}: expected a number in (0, {MAX_QPS:g}]")
        if self.scenario == "Server" and self.target_qps is None:
            problems.append("Server needs a target QPS (its arrival rate)")
        if not (math.isfinite(self.latency_ms) and 0 < self.latency_ms <= MAX_LATENCY_MS):
            problems.append(f"latency bound {self.latency_ms!r} ms: expected a number in (0, {MAX_LATENCY_MS:g}]")
        if self.max_batch is not None and self.max_batch < 1:
            problems.append(f"max batch {self.max_batch}: expected >= 1")
        if not (math.isfinite(self.max_wait_ms) and 0 <= self.max_wait_ms <= MAX_WAIT_MS):
            problems.append(f"max wait {self.max_wait_ms!r} ms: expected a number in [0, {MAX_WAIT_MS:g}]")
        if not 0 <= self.log_probability <= 1:
            problems.append(f"log probability {self.log_probability!r}: expected a number in [0, 1]")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < MAX_SEED:
            problems.append(f"seed {self.seed!r}: expected an integer in [0, {MAX_SEED})")
        if problems:
            raise WidedeepError("LoadGen settings: " + "; ".join(problems))

    @property
    def batch(self) -> int:
        return self.max_batch or DEFAULT_MAX_BATCH[self.scenario]


def settings_of_gate(gate, mode: str = "performance") -> ScenarioSettings:
    """The LoadGen settings of a profile's ``[[scenario]]`` table (``profiles.ScenarioGate``): Server runs at
    the table's ``min_qps`` under its p99 bound."""
    return ScenarioSettings(gate.scenario, mode=mode, duration_s=gate.duration_s, target_qps=gate.min_qps,
                            latency_ms=gate.latency_ms, max_batch=gate.max_batch,
                            max_wait_ms=DEFAULT_MAX_WAIT_MS if gate.max_wait_ms is None else gate.max_wait_ms)


@dataclass
class ScenarioResult:
    """One LoadGen run as its logs report it."""

    scenario: str
    mode: str
    runner: str  # "onnxruntime-fp32"
    instances: int
    valid: bool  # LoadGen's verdict (an accuracy run: no LoadGen error)
    validity: str  # "VALID" / "INVALID" as LoadGen wrote it; logs.ACCURACY_VALIDITY for an accuracy run
    samples_per_s: float | None  # Offline: result_samples_per_second; SingleStream: result_qps_with_loadgen_overhead
    scheduled_qps: float | None  # Server: result_scheduled_samples_per_sec
    completed_qps: float | None  # Server: result_completed_samples_per_sec
    latency_ms: dict  # p50 ... p99.9 of the query latency, LoadGen's
    constraints: dict  # min duration / min queries / early stopping met, as LoadGen judged
    settings: dict
    batcher: dict  # batches and samples answered, mean batch
    log_dir: str
    loadgen_errors: list = field(default_factory=list)

    @property
    def throughput(self) -> float | None:
        """The scenario's figure: Offline samples/s, Server completed QPS, SingleStream queries/s."""
        return self.samples_per_s if self.scenario != "Server" else self.completed_qps

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        figure = (f"{self.samples_per_s:,.0f} samples/s" if self.scenario != "Server" else
                  f"scheduled {self.scheduled_qps:,.0f} QPS, completed {self.completed_qps:,.0f} QPS")
        latency = "  ".join(f"{k} {v:.2f} ms" for k, v in self.latency_ms.items() if k in ("p50", "p90", "p99")
                            and v is not None)
        return f"{self.scenario} {self.mode} {self.runner} x{self.instances}: {self.validity}, {figure}, {latency}"


def run_scenario(instances, tensors, settings: ScenarioSettings, out: Path, *, label: str) -> ScenarioResult:
    """One LoadGen run of ``settings`` over started runner ``instances`` (``workers``) on the rows of
    ``tensors``; LoadGen writes its logs to ``out``. ``label`` names the runner in the result
    ("onnxruntime-fp32")."""
    lg = loadgen_module()
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in (logs.DETAIL_LOG, logs.SUMMARY_LOG, logs.ACCURACY_LOG):
            (out / name).unlink(missing_ok=True)  # an earlier run's log is never read as this run's
    except OSError as exc:
        raise WidedeepError(f"{out}: cannot prepare LoadGen's log directory: {exc.strerror or exc} "
                            f"({exc.filename})") from exc
    library = SampleLibrary(tensors)
    try:
        if any(instance.kind == "processes" for instance in instances):
            library.share()
        sut = SystemUnderTest(instances, library, max_batch=settings.batch, max_wait_ms=settings.max_wait_ms)
        _start_test(lg, sut, library, settings, out, label)
    finally:
        library.close()
    sut.raise_errors()
    return _result(out, settings, label, len(instances), sut)


def _start_test(lg, sut: SystemUnderTest, library: SampleLibrary, settings: ScenarioSettings, out: Path,
                label: str) -> None:
    test_settings = _test_settings(lg, settings, sut)
    sut.warm_up({1, min(64, settings.batch), settings.batch}, WARMUP_CALLS)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    say(f"LoadGen {settings.scenario} {settings.mode}: {label} x{len(sut.instances)} "
        f"({sut.instances[0].kind}), "
        f"{_describe(settings, test_settings)}; logs in {out}")
    with sut:
        sut_handle, qsl_handle = sut.construct(lg), library.construct(lg)
        try:
            lg.StartTestWithLogSettings(sut_handle, qsl_handle, test_settings, log_settings)
        finally:
            lg.DestroyQSL(qsl_handle)
            lg.DestroyFastSUT(sut_handle)


def _test_settings(lg, settings: ScenarioSettings, sut: SystemUnderTest):
    test = lg.TestSettings()
    test.scenario = getattr(lg.TestScenario, settings.scenario)
    test.mode = lg.TestMode.AccuracyOnly if settings.mode == "accuracy" else lg.TestMode.PerformanceOnly
    test.min_duration_ms = int(settings.duration_s * 1000)
    test.min_query_count = settings.min_query_count
    test.qsl_rng_seed = test.sample_index_rng_seed = test.schedule_rng_seed = settings.seed
    if settings.log_probability:
        test.accuracy_log_probability = settings.log_probability
        test.accuracy_log_rng_seed = settings.seed + 1
    if settings.scenario == "Offline":
        test.offline_expected_qps = settings.target_qps or _estimated_samples_per_s(sut, settings.batch)
    elif settings.scenario == "Server":
        test.server_target_qps = settings.target_qps
        test.server_target_latency_ns = int(settings.latency_ms * 1e6)
        test.server_target_latency_percentile = 0.99
    else:
        test.single_stream_expected_latency_ns = int(1e9 / _estimated_samples_per_s(sut, 1) * len(sut.instances))
    return test


def _estimated_samples_per_s(sut: SystemUnderTest, batch: int) -> float:
    """samples/s of the first instance doing a batch's whole work (rows gathered, ``infer``, responses made)
    on a few real batches (median), times the instance count and ``ESTIMATE_MARGIN``. LoadGen sizes an Offline
    query from it so that the run lasts its minimum duration; an overestimate only makes the run longer, so
    instances are assumed to add up."""
    from widedeep_bench.measure import TimingPlan, measure

    rows = np.arange(batch * ESTIMATE_ROUNDS) % sut.library.rows
    batches = [(list(range(batch)), rows[i * batch:(i + 1) * batch].tolist()) for i in range(ESTIMATE_ROUNDS)]
    plan = TimingPlan(warmup_s=0.1, min_warmup_rounds=1, min_rounds=ESTIMATE_ROUNDS, min_duration_s=0.2)
    instance, pool = sut.instances[0], ResponsePool(loadgen_module(), batch)
    timing = measure(lambda ids, indices: sut.responses(instance, pool, ids, indices), batches, batch, plan)
    return timing.samples_per_s * len(sut.instances) * ESTIMATE_MARGIN


def _describe(settings: ScenarioSettings, test) -> str:
    if settings.scenario == "Offline":
        return f"batch {settings.batch}, expected {test.offline_expected_qps:,.0f} samples/s, >= {settings.duration_s:g} s"
    if settings.scenario == "Server":
        return (f"{settings.target_qps:,.0f} QPS Poisson, p99 <= {settings.latency_ms:g} ms, batcher "
                f"<= {settings.batch} samples / {settings.max_wait_ms:g} ms, >= {settings.duration_s:g} s")
    return f"one sample per query, >= {settings.duration_s:g} s"


def _result(out: Path, settings: ScenarioSettings, label: str, instances: int, sut: SystemUnderTest) -> ScenarioResult:
    accuracy_mode = settings.mode == "accuracy"
    entries = logs.detail_entries(out, accuracy_mode=accuracy_mode)
    server = settings.scenario == "Server"
    # Offline's figure; SingleStream's is its queries/s with LoadGen's overhead (one sample per query).
    per_second = entries.get("result_samples_per_second", entries.get("result_qps_with_loadgen_overhead"))
    return ScenarioResult(
        scenario=settings.scenario, mode=settings.mode, runner=label, instances=instances,
        # An accuracy run is judged by its answers; here it only must have run without LoadGen errors.
        valid=(not entries["errors"]) if accuracy_mode else entries["result_validity"] == "VALID",
        validity=str(entries["result_validity"]),
        samples_per_s=None if server or per_second is None else float(per_second),
        scheduled_qps=_float(entries.get("result_scheduled_samples_per_sec")) if server else None,
        completed_qps=_float(entries.get("result_completed_samples_per_sec")) if server else None,
        latency_ms=logs.latencies_ms(entries),
        constraints={key: entries.get(f"result_{key}") for key in ("min_duration_met", "min_queries_met")}
        | {"early_stopping_met": entries.get("early_stopping_met"),
           "perf_constraints_met": entries.get("result_perf_constraints_met")},
        settings={**asdict(settings), "max_batch": settings.batch},
        batcher={"batches": sut.batches, "samples": sut.samples,
                 "mean_batch": sut.samples / sut.batches if sut.batches else 0.0},
        log_dir=str(out), loadgen_errors=list(entries["errors"]))


def _float(value) -> float | None:
    return None if value is None else float(value)


# --- runs built of runs ------------------------------------------------------------------------------

@dataclass
class PeakSearch:
    """The Server target QPS searched between 0 and an upper bound: every try, and the highest VALID one."""

    tries: list[ScenarioResult]
    upper_bound_qps: float
    latency_ms: float

    @property
    def peak_qps(self) -> float | None:
        valid = [t.scheduled_qps for t in self.tries if t.valid]
        return max(valid) if valid else None

    @property
    def peak_target_qps(self) -> float | None:
        valid = [t.settings["target_qps"] for t in self.tries if t.valid]
        return max(valid) if valid else None

    def as_dict(self) -> dict:
        return {"peak_target_qps": self.peak_target_qps, "peak_scheduled_qps": self.peak_qps,
                "upper_bound_qps": self.upper_bound_qps, "latency_ms": self.latency_ms,
                "tries": [{"target_qps": t.settings["target_qps"], "valid": t.valid,
                           "scheduled_qps": t.scheduled_qps, "completed_qps": t.completed_qps,
                           "p99_ms": t.latency_ms.get("p99"), "mean_batch": t.batcher["mean_batch"],
                           "log_dir": t.log_dir} for t in self.tries]}


def find_peak(run_at, upper_bound_qps: float, *, tries: int, first_fraction: float = 0.8) -> PeakSearch:
    """The highest Server target QPS LoadGen calls VALID, in at most ``tries`` runs: ``run_at(qps)`` is one
    Server run. The first try is ``first_fraction`` of the bound (Offline samples/s: no Server load can be
    served faster), then bisection between the highest VALID and the lowest INVALID target."""
    if tries < 1 or not upper_bound_qps > 0 or not 0 < first_fraction <= 1:
        raise WidedeepError(f"peak search: tries {tries} (expected >= 1), upper bound {upper_bound_qps} QPS "
                            f"(expected > 0), first fraction {first_fraction} (expected in (0, 1])")
    low, high = 0.0, float(upper_bound_qps)
    target = high * first_fraction
    results = []
    for number in range(1, tries + 1):
        result = run_at(target)
        results.append(result)
        say(f"peak search try {number}/{tries}: {target:,.0f} QPS -> {result.validity} "
            f"(p99 {result.latency_ms.get('p99') or float('nan'):.2f} ms)")
        if result.valid:
            low = target
        else:
            high = target
        target = (low + high) / 2
    return PeakSearch(results, float(upper_bound_qps), results[0].settings["latency_ms"])


@dataclass
class Compliance:
    """MLPerf TEST01's check: the responses a performance run logged equal the accuracy run's for those rows."""

    accuracy_run: ScenarioResult
    performance_run: ScenarioResult
    checked: int  # logged responses compared
    mismatched: int  # beyond atol
    max_abs_error: float
    atol: float
    worst: list  # [(qsl_idx, performance, accuracy)] of the worst rows

    @property
    def passed(self) -> bool:
        return self.checked > 0 and self.mismatched == 0

    def as_dict(self) -> dict:
        return {"passed": self.passed, "checked": self.checked, "mismatched": self.mismatched,
                "max_abs_error": self.max_abs_error, "atol": self.atol, "worst": self.worst,
                "accuracy_run": self.accuracy_run.as_dict(), "performance_run": self.performance_run.as_dict()}


def compliance(run, settings: ScenarioSettings, out: Path, *, rows: int, atol: float,
               log_probability: float = 0.1) -> Compliance:
    """An accuracy run, then a performance run of ``settings`` that logs ``log_probability`` of its responses;
    ``run(settings, directory)`` is one LoadGen run. A runner that answers differently when it is timed than
    when it is checked (faster because wrong) shows as mismatched rows."""
    out = Path(out)
    accuracy_run = run(replace(settings, mode="accuracy"), out / "accuracy")
    expected = logs.click_probabilities(out / "accuracy", rows)
    performance_run = run(replace(settings, mode="performance", log_probability=log_probability),
                          out / "performance")
    index, answered = logs.logged_responses(out / "performance", rows)
    if not index.size:
        raise WidedeepError(f"{out / 'performance' / logs.ACCURACY_LOG}: the performance run logged no response "
                            f"(log probability {log_probability}); nothing was checked")
    error = np.abs(answered.astype(np.float64) - expected[index].astype(np.float64))
    worst = np.argsort(-error, kind="stable")[:5]
    return Compliance(accuracy_run, performance_run, checked=int(index.size),
                      mismatched=int(np.count_nonzero(~(error <= atol))), max_abs_error=float(error.max()),
                      atol=atol, worst=[(int(index[i]), float(answered[i]), float(expected[index[i]]))
                                        for i in worst])
