"""Gates: the suite's pass/fail rules, as pure functions over measurements, and the session's verdict.

Every gate has a name built here (so the plan of what a run must check and the checks themselves can
never disagree), a measured value, a threshold and the method in words. A session judges:

- PASS / FAIL for each gate that was evaluated;
- NOT RUN for a gate the run planned and could not evaluate (a missing runtime, an error in setup, no
  TF original for a relative gate), with why; it fails the run unless ``allow_missing`` (exploratory);
- DESELECTED for a gate of a test that ``-m`` / ``-k`` left out, which never fails the run;
- N/A for a planned gate its test withdrew because the run's inputs make it meaningless (conversion
  gates when the run was handed a converted ONNX), with why;
- a run that selected engine tests and evaluated no engine gate fails, whatever else it did.

``passed`` is true only when every selected gate ran and passed. The session object (``GateBook``)
lives in ``SuiteResults``, one per pytest session, as pytest-benchmark's session judges its thresholds.
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field

_OPS = {">=": operator.ge, "<=": operator.le}

PASS, FAIL, NOT_RUN, DESELECTED, NOT_APPLICABLE = "PASS", "FAIL", "NOT RUN", "DESELECTED", "N/A"


# --- names: the one place each gate's name is made ----------------------------------------------

def accuracy_floor_name(case: str) -> str:
    return f"accuracy {case}: Top-1 >= profile floor"


def accuracy_auc_name(case: str) -> str:
    return f"accuracy {case}: AUC >= 0.5 + margin"


def accuracy_drop_name(case: str) -> str:
    return f"accuracy {case}: Top-1 >= TF original - allowed drop"


def accuracy_tier_name(case: str, tier: float) -> str:
    return f"accuracy {case}: AUC >= {tier:g}% of TF original (MLPerf tier)"


def accuracy_gate_names(case: str, *, with_drop: bool, tier: float | None = None) -> list[str]:
    """The accuracy gates of ``case`` ("onnxruntime-fp16"); where a TF original is compared, the drop gate
    and MLPerf's AUC tier (``tier``, the profile's ``auc_tier``)."""
    names = [accuracy_floor_name(case), accuracy_auc_name(case)]
    if not with_drop:
        return names
    return names + [accuracy_drop_name(case)] + ([] if tier is None else [accuracy_tier_name(case, tier)])


def precision_evidence_name(case: str) -> str:
    return f"precision {case}: the runtime shows the precision it is labelled with"


def precision_differs_name(case: str) -> str:
    return f"precision {case}: outputs differ from its FP32 engine's beyond FP32 tolerance"


def precision_gate_names(case: str, precision: str, reduced: tuple[str, ...]) -> list[str]:
    """The precision-proof gates of an engine labelled ``precision``: none for FP32 (the precision every other
    is compared with), two for each of ``reduced``."""
    return [precision_evidence_name(case), precision_differs_name(case)] if precision in reduced else []


def parity_gate_name(case: str, batch: int, reference: str) -> str:
    return f"parity {case}/b{batch} vs {reference}: smallest atol that passes"


def perf_absolute_name(case: str, batch: int, scope: str | None) -> str:
    return f"perf {case}/b{batch}: samples/s >= profile minimum ({scope or 'any backend'})"


def perf_ratio_name(case: str, batch: int, scope: str | None) -> str:
    return f"perf {case}/b{batch}: paired ratio vs TF original >= profile ratio ({scope or 'any backend'})"


def perf_gate_names(case: str, batch: int, profile_gates) -> list[str]:
    """Names of the gates ``profile_gates`` (``profiles.PerfGate``s that apply to this case) evaluate."""
    names = []
    for gate in profile_gates:
        if gate.min_samples_per_s is not None:
            names.append(perf_absolute_name(case, batch, gate.backend))
        if gate.min_ratio_vs_tensorflow is not None:
            names.append(perf_ratio_name(case, batch, gate.backend))
    return names


def conversion_gate_name(stage: str) -> str:
    return f"conversion stage {stage}: max |p_onnx - p_tf|"


def scenario_case(gate) -> str:
    """The case of a ``profiles.ScenarioGate``: "Offline onnxruntime-fp32"."""
    return f"{gate.scenario} {gate.backend}-{gate.precision}"


def scenario_valid_name(case: str) -> str:
    return f"scenario {case}: LoadGen VALID"


def scenario_throughput_name(case: str) -> str:
    return f"scenario {case}: samples/s >= profile minimum"


def scenario_latency_name(case: str, qps: float, latency_ms: float) -> str:
    return f"scenario {case} at {qps:g} QPS: p99 <= {latency_ms:g} ms"


def scenario_accuracy_name(case: str, tier: float) -> str:
    return f"scenario {case}: AUC >= {tier:g}% of TF original"


def scenario_gate_names(gate) -> list[str]:
    """Names of the gates a ``profiles.ScenarioGate`` evaluates, in the order the rules return them: its
    performance run's (VALID, then samples/s or Server's p99 latency) and its accuracy run's."""
    case, names = scenario_case(gate), []
    if _judges_performance(gate):
        names.append(scenario_valid_name(case))
    if gate.min_samples_per_s is not None:
        names.append(scenario_throughput_name(case))
    if gate.min_qps is not None:
        names.append(scenario_latency_name(case, gate.min_qps, gate.latency_ms))
    if gate.accuracy_tier is not None:
        names.append(scenario_accuracy_name(case, gate.accuracy_tier))
    return names


def _judges_performance(gate) -> bool:
    return gate.min_samples_per_s is not None or gate.min_qps is not None


# --- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GateResult:
    """An evaluated gate."""

    name: str  # e.g. "accuracy onnxruntime-fp16: Top-1 >= profile floor"
    measured: float
    op: str  # ">=" or "<="
    threshold: float
    unit: str
    passed: bool
    method: str  # how `measured` was obtained, in words

    def line(self) -> str:
        verdict = PASS if self.passed else FAIL
        return f"{verdict}  {self.name}: {self.measured:.6g} {self.op} {self.threshold:.6g} {self.unit}".rstrip()

    def as_dict(self) -> dict:
        return asdict(self)


def junit_properties(results: list[GateResult], not_run: dict[str, str]) -> list[tuple[str, str]]:
    """The gates a test evaluated (``results``) or could not (``not_run``: name -> why), as JUnit properties of
    that test case: ``("gate: NAME", "PASS: measured 0.811932 >= threshold 0.8111 UNIT; method: ...")``,
    ``("gate: NAME", "NOT RUN: why")``.

    One property per gate, not one per field: Jenkins (``junit keepProperties: true``) lists a case's
    properties as name/value rows, so each row reads as a line of the gate table, verdict first, and five
    rows per gate would scatter it. The numbers carry 6 significant digits, as the terminal table; the exact
    values are in the ``--wd-report`` JSON."""
    properties = []
    for r in results:
        unit = f" {r.unit}" if r.unit else ""
        properties.append((f"gate: {r.name}", f"{PASS if r.passed else FAIL}: measured {r.measured:.6g} {r.op} "
                                              f"threshold {r.threshold:.6g}{unit}; method: {r.method}"))
    return properties + [(f"gate: {name}", f"{NOT_RUN}: {why}") for name, why in not_run.items()]


def tier_auc(tier: float, reference_auc: float) -> float:
    """MLPerf's accuracy rule for recommendation: the least AUC that keeps ``tier`` (99 or 99.9) percent of the
    FP32 reference's AUC on the same rows."""
    return tier / 100 * reference_auc


def evaluate(name: str, measured: float, op: str, threshold: float, *, unit: str = "", method: str = "") -> GateResult:
    """One gate: ``measured op threshold``. A NaN measurement fails (every comparison with NaN is false)."""
    if op not in _OPS:
        raise ValueError(f"gate {name!r}: op must be one of {sorted(_OPS)}, got {op!r}")
    measured, threshold = float(measured), float(threshold)
    passed = bool(_OPS[op](measured, threshold)) and not math.isnan(measured)
    return GateResult(name=name, measured=measured, op=op, threshold=threshold, unit=unit, passed=passed,
                      method=method)


# --- the rules ----------------------------------------------------------------------------------

def accuracy_gates(case: str, metrics, profile, *, tf_metrics=None, method: str) -> list[GateResult]:
    """Top-1 >= the profile's floor; AUC >= 0.5 + margin (a constant predictor never passes); and, where the
    TF original's metrics on the same rows are known (``tf_metrics``), Top-1 >= its Top-1 - the allowed drop
    and AUC >= the profile's ``auc_tier`` percent of its AUC (MLPerf's rule: 99 or 99.9)."""
    gates = [evaluate(accuracy_floor_name(case), metrics.top1, ">=", profile.top1_floor, method=method),
             evaluate(accuracy_auc_name(case), metrics.auc, ">=", 0.5 + profile.auc_margin, method=method)]
    if tf_metrics is not None:
        gates.append(evaluate(accuracy_drop_name(case), metrics.top1, ">=", tf_metrics.top1 - profile.top1_max_drop,
                              method=f"{method}; TF original on the same rows: {tf_metrics.top1:.5f}"))
        tier = profile.auc_tier
        gates.append(evaluate(accuracy_tier_name(case, tier), metrics.auc, ">=", tier_auc(tier, tf_metrics.auc),
                              method=f"{method}; TF original's AUC on the same rows: {tf_metrics.auc:.6f}, "
                                     f"x {tier:g}% (MLPerf's recommendation rule)"))
    return gates


def precision_gates(case: str, proof, *, fp32_atol: float, method: str) -> list[GateResult]:
    """An engine labelled with a reduced precision proves it (``proof``: ``precision.PrecisionProof``): the
    runtime's own account shows that precision, and its outputs on real rows move away from its own FP32
    engine's by more than ``fp32_atol`` (FP32's parity tolerance): one that rounds nothing, or only reorders
    float32 sums (a second FP32 build), ran FP32."""
    same = "; equal bit for bit: it ran FP32" if proof.differing == 0 else \
        f"; {proof.differing} of {proof.elements} elements differ"
    return [evaluate(precision_evidence_name(case), 1.0 if proof.evidence.shown else 0.0, ">=", 1.0, unit="shown",
                     method=str(proof.evidence)),
            evaluate(precision_differs_name(case), proof.max_abs_vs_fp32, ">=", fp32_atol, unit="max |p - p_fp32|",
                     method=method + same)]


def parity_gate(case: str, batch: int, reference: str, comparison, tolerance, *, method: str) -> GateResult:
    """The smallest atol that would have passed ``compare()``'s rule must be within the precision's atol."""
    return evaluate(parity_gate_name(case, batch, reference), comparison.required_atol, "<=", tolerance.atol,
                    method=method)


def perf_gates(case: str, batch: int, profile_gates, *, samples_per_s: float, ratio_vs_tensorflow: float | None,
               method: str, ratio_method: str) -> tuple[list[GateResult], list[str]]:
    """Absolute and relative throughput gates of one case. Returns the evaluated gates and the names of the
    relative gates that could not be evaluated because no paired TF measurement exists."""
    evaluated, without_peer = [], []
    for gate in profile_gates:
        if gate.min_samples_per_s is not None:
            evaluated.append(evaluate(perf_absolute_name(case, batch, gate.backend), samples_per_s, ">=",
                                      gate.min_samples_per_s, unit="samples/s", method=method))
        if gate.min_ratio_vs_tensorflow is None:
            continue
        name = perf_ratio_name(case, batch, gate.backend)
        if ratio_vs_tensorflow is None:
            without_peer.append(name)
        else:
            evaluated.append(evaluate(name, ratio_vs_tensorflow, ">=", gate.min_ratio_vs_tensorflow, unit="x",
                                      method=ratio_method))
    return evaluated, without_peer


def conversion_gate(stage: str, max_abs_error: float, atol: float, *, method: str) -> GateResult:
    return evaluate(conversion_gate_name(stage), max_abs_error, "<=", atol, method=method)


def scenario_performance_gates(case: str, gate, *, valid: bool, validity: str, samples_per_s: float | None,
                               p99_ms: float | None, method: str) -> list[GateResult]:
    """The gates of one LoadGen performance run of ``gate`` (a ``profiles.ScenarioGate``), from LoadGen's
    verdict and figures: VALID, which an INVALID run fails whatever its figures; samples/s >= the gate's
    ``min_samples_per_s``; for Server at ``min_qps``, the p99 latency (ms) <= ``latency_ms``. A figure
    LoadGen did not report (None) fails. A gate that judges accuracy only has none here."""
    if not _judges_performance(gate):
        return []
    results = [evaluate(scenario_valid_name(case), 1.0 if valid else 0.0, ">=", 1.0, unit="VALID",
                        method=f"{method}; LoadGen said {validity}")]
    if gate.min_samples_per_s is not None:
        results.append(evaluate(scenario_throughput_name(case), _reported(samples_per_s), ">=",
                                gate.min_samples_per_s, unit="samples/s", method=method))
    if gate.min_qps is not None:
        results.append(evaluate(scenario_latency_name(case, gate.min_qps, gate.latency_ms), _reported(p99_ms),
                                "<=", gate.latency_ms, unit="ms", method=method))
    return results


def scenario_accuracy_gate(case: str, tier: float, *, auc: float | None, tf_auc: float, method: str) -> GateResult:
    """A LoadGen accuracy run's AUC >= ``tier``/100 x the TF original's AUC on the same rows (MLPerf's 99 and
    99.9 tiers). A missing AUC (None) fails."""
    return evaluate(scenario_accuracy_name(case, tier), _reported(auc), ">=", tier_auc(tier, tf_auc),
                    method=f"{method}; TF original on the same rows: {tf_auc:.5f}")


def _reported(figure: float | None) -> float:
    return math.nan if figure is None else figure


# --- the session's book and verdict -------------------------------------------------------------

@dataclass(frozen=True)
class PlannedGate:
    """A gate the run means to evaluate: the test that evaluates it and whether ``-m``/``-k`` kept it."""

    name: str
    nodeid: str
    selected: bool
    engine: bool  # a gate on an engine under test (not the TF original's own accuracy, not conversion)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GateRow:
    name: str
    status: str  # PASS, FAIL, NOT RUN, DESELECTED, N/A
    result: GateResult | None
    why: str = ""  # for NOT RUN: what prevented the measurement

    def as_dict(self) -> dict:
        base = self.result.as_dict() if self.result else {"name": self.name, "passed": False}
        return {**base, "status": self.status, "why": self.why}


@dataclass(frozen=True)
class Verdict:
    rows: list[GateRow]
    problems: list[str] = field(default_factory=list)  # run-level reasons the run fails

    @property
    def passed(self) -> bool:
        return not self.problems and all(r.status in (PASS, DESELECTED, NOT_APPLICABLE) for r in self.rows)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)


def judge(planned: dict[str, PlannedGate], results: dict[str, GateResult], not_run: dict[str, str],
          outcomes: dict[str, str], *, allow_missing: bool, engine_tests_selected: int,
          withdrawn: dict[str, str] | None = None) -> Verdict:
    """The session's verdict.

    ``planned``: gates the collected tests evaluate; ``results``: gates evaluated; ``not_run``: gate name ->
    why, recorded by a test that could not evaluate it; ``outcomes``: test node id -> why it did not run to
    the end (skip reason, setup error); ``engine_tests_selected``: how many selected tests exercise an
    engine under test; ``withdrawn``: gate name -> why its test found it meaningless for this run's inputs.
    A result without a plan entry (a test outside the plan) is judged all the same.
    """
    rows, problems, withdrawn = [], [], withdrawn or {}
    for name, plan in planned.items():
        if name in withdrawn and name not in results:
            rows.append(GateRow(name, NOT_APPLICABLE, None, withdrawn[name]))
        elif name in results:
            result = results[name]
            rows.append(GateRow(name, PASS if result.passed else FAIL, result))
        elif not plan.selected:
            rows.append(GateRow(name, DESELECTED, None))
        else:
            why = not_run.get(name) or outcomes.get(plan.nodeid) or "its test did not evaluate it"
            rows.append(GateRow(name, NOT_RUN, None, why))
    rows += [GateRow(name, PASS if r.passed else FAIL, r) for name, r in results.items() if name not in planned]
    missing = [row for row in rows if row.status == NOT_RUN]
    if missing and not allow_missing:
        problems.append(f"{len(missing)} selected gate(s) were not run (first: {missing[0].name}: {missing[0].why}); "
                        f"a gate that did not measure never passes (--wd-allow-missing for an exploratory run)")
    engine_evaluated = sum(1 for row in rows if row.result is not None and
                           (planned[row.name].engine if row.name in planned else True))
    if engine_tests_selected and not engine_evaluated:
        problems.append(f"{engine_tests_selected} engine test(s) were selected and no engine gate was evaluated: "
                        f"nothing under test was measured")
    return Verdict(rows, problems)


class GateBook:
    """The gates of one session: evaluated results, gates a test could not evaluate, and the plan.

    A gate evaluated again under the same name replaces the earlier result."""

    def __init__(self) -> None:
        self._results: dict[str, GateResult] = {}
        self.not_run: dict[str, str] = {}
        self.withdrawn: dict[str, str] = {}
        self.planned: dict[str, PlannedGate] = {}

    def record(self, *results: GateResult) -> list[GateResult]:
        for result in results:
            self._results[result.name] = result
            self.not_run.pop(result.name, None)
        return list(results)

    def mark(self) -> tuple[dict[str, GateResult], dict[str, str]]:
        """The results and not-run reasons as they stand now, for ``recorded_since``."""
        return dict(self._results), dict(self.not_run)

    def recorded_since(self, mark: tuple[dict[str, GateResult], dict[str, str]]) -> list[tuple[str, str]]:
        """The gates recorded after ``mark`` (evaluated, or could not run) as JUnit properties."""
        results, not_run = mark
        return junit_properties([r for name, r in self._results.items() if results.get(name) is not r],
                                {name: why for name, why in self.not_run.items() if not_run.get(name) != why})

    def unjudged_properties(self, nodeid: str, why: str) -> list[tuple[str, str]]:
        """The selected gates planned for test ``nodeid`` that it neither evaluated nor marked as not run (it
        failed, errored or was skipped first), as NOT RUN JUnit properties saying ``why``."""
        return junit_properties([], {name: why for name, gate in self.planned.items()
                                     if gate.nodeid == nodeid and gate.selected and name not in self._results
                                     and name not in self.not_run})

    def could_not_run(self, name: str, why: str) -> None:
        if name not in self._results:
            self.not_run[name] = why

    def withdraw(self, name: str, why: str) -> None:
        """A test found its planned gate meaningless for this run's inputs (shown as N/A with why)."""
        self.withdrawn[name] = why

    def plan(self, gate: PlannedGate) -> None:
        known = self.planned.get(gate.name)
        # Under xdist every worker plans every test; a gate is selected if any worker has it selected.
        if known is None or (gate.selected and not known.selected):
            self.planned[gate.name] = gate

    def extend(self, other: dict) -> None:
        """Merge what another process recorded (pytest-xdist workers send ``as_dict()``)."""
        for item in other.get("results", []):
            self.record(GateResult(**item))
        for name, why in other.get("not_run", {}).items():
            self.could_not_run(name, why)
        for item in other.get("planned", []):
            self.plan(PlannedGate(**item))
        self.withdrawn.update(other.get("withdrawn", {}))

    def as_dict(self) -> dict:
        return {"results": [r.as_dict() for r in self._results.values()], "not_run": dict(self.not_run),
                "withdrawn": dict(self.withdrawn), "planned": [p.as_dict() for p in self.planned.values()]}

    @property
    def results(self) -> list[GateResult]:
        return list(self._results.values())

    @property
    def results_by_name(self) -> dict[str, GateResult]:
        return dict(self._results)

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self._results.values() if not r.passed]


def table(rows: list[GateRow]) -> str:
    """The gates as an aligned text table: gate, measured, threshold, unit, result (and why, if not run)."""
    if not rows:
        return "no gates were planned or evaluated"
    lines = [("gate", "measured", "threshold", "unit", "result")]
    for row in rows:
        r = row.result
        lines.append((row.name, f"{r.measured:.6g}" if r else "-", f"{r.op} {r.threshold:.6g}" if r else "-",
                      r.unit if r else "", row.status + (f": {row.why}" if row.why and not r else "")))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(line[:4], widths)), line[4]]).rstrip()
                     for line in lines)
