"""Everything a suite run measured: gates (planned, evaluated, not run), accuracy, parity, throughput.

One ``SuiteResults`` per pytest session (on each xdist worker too; workers send theirs to the
controller as JSON, which merges them). ``as_report()`` is what ``--wd-report`` writes.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from widedeep_bench.environment import machine, provenance
from widedeep_bench.gates import GateBook, Verdict, judge, table

# 3 added every timed round of a perf case (throughput[case]["round_seconds"]), the parity error histogram
# (parity[case]["histogram"]) and the machine's accelerators (machine["accelerators"]); 2's fields are unchanged.
REPORT_VERSION = 3


class SuiteResults:
    def __init__(self) -> None:
        self.gates = GateBook()
        self.accuracy: dict[str, dict] = {}  # "backend-precision" -> top1, auc, logloss, positive_rate, rows
        self.parity: dict[str, dict] = {}  # "backend-precision/bBATCH vs reference" -> Comparison fields
        self.throughput: dict[str, dict] = {}  # "backend-precision/bBATCH" -> samples_per_s, median_ms, ...
        self.scenarios: dict[str, dict] = {}  # "Offline onnxruntime-fp32" -> LoadGen results, null ceiling
        self.precision: dict[str, dict] = {}  # "backend-precision" -> evidence, bits differing from FP32, calibration
        self.context: dict[str, object] = {}  # assets, profile, engine keys
        self.outcomes: dict[str, str] = {}  # test node id -> why it did not run to the end
        self.engine_tests_selected = 0
        self.allow_missing = False

    def merge(self, other: dict) -> None:
        self.gates.extend(other.get("gates", {}))
        for section in ("accuracy", "parity", "throughput", "scenarios", "precision", "context", "outcomes"):
            getattr(self, section).update(other.get(section, {}))
        self.engine_tests_selected = max(self.engine_tests_selected, other.get("engine_tests_selected", 0))

    def as_dict(self) -> dict:
        return {"gates": self.gates.as_dict(), "accuracy": self.accuracy, "parity": self.parity,
                "throughput": self.throughput, "scenarios": self.scenarios, "precision": self.precision,
                "context": self.context, "outcomes": self.outcomes, "engine_tests_selected": self.engine_tests_selected}

    def verdict(self) -> Verdict:
        return judge(self.gates.planned, self.gates.results_by_name, self.gates.not_run, self.outcomes,
                     allow_missing=self.allow_missing, engine_tests_selected=self.engine_tests_selected,
                     withdrawn=self.gates.withdrawn)

    def as_report(self, command: list[str], *, session_ok: bool) -> dict:
        """The report: every gate with its status, the measurements, versions, machine and commit.
        ``passed`` is true only when every selected gate ran and passed, at least one gate on an engine under
        test was among them, and pytest itself succeeded."""
        verdict = self.verdict()
        problems = list(verdict.problems)
        if not session_ok:
            problems.append("the pytest session did not succeed (a test failed or errored, or it was interrupted)")
        if not any(row.result is not None for row in verdict.rows):
            problems.append("no gate was evaluated")
        elif not any(row.result is not None and getattr(self.gates.planned.get(row.name), "engine", True)
                     for row in verdict.rows):
            # Conversion gates and the TF original's own accuracy accept no engine: such a run may succeed,
            # but its report must not read as an engine's acceptance.
            problems.append("no engine gate was evaluated: this run accepted no engine under test "
                            "(conversion and TF-original gates only)")
        return {"report_version": REPORT_VERSION, "passed": verdict.passed and not problems, "problems": problems,
                "gates": [row.as_dict() for row in verdict.rows], "allow_missing": self.allow_missing,
                "accuracy": self.accuracy, "parity": self.parity, "throughput": self.throughput,
                "scenarios": self.scenarios, "precision": self.precision, "context": self.context,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "command": command, **provenance(), "machine": machine()}

    def write_report(self, path: Path, command: list[str], *, session_ok: bool) -> None:
        from widedeep_bench.cache import atomic_file

        with atomic_file(Path(path)) as tmp:
            tmp.write_text(json.dumps(self.as_report(command, session_ok=session_ok), indent=2, sort_keys=True) + "\n")

    def summary_lines(self) -> list[str]:
        return summary_lines(self.verdict(), self.accuracy, self.throughput, self.scenarios, self.precision,
                             self.context.get("calibration"))


def summary_lines(verdict: Verdict, accuracy: dict, throughput: dict, scenarios: dict | None = None,
                  precision: dict | None = None, calibration: dict | None = None) -> list[str]:
    """The gate table, then accuracy and throughput, as printed after a run and by ``report``."""
    counts = ", ".join(f"{verdict.count(s)} {s}" for s in ("PASS", "FAIL", "NOT RUN", "DESELECTED", "N/A") if verdict.count(s))
    lines = [f"gates ({counts or 'none'}):", *("  " + line for line in table(verdict.rows).splitlines())]
    lines += [f"RUN FAILS: {problem}" for problem in verdict.problems]
    if accuracy:
        lines.append("accuracy (whole eval set, batch 1024, final partial batch dropped):")
        for case, m in sorted(accuracy.items()):
            lines.append(f"  {case:<24} Top-1 {m['top1']:.5f}  AUC {m['auc']:.5f}  "
                         f"log loss {m['logloss']:.5f}  rows {m['rows']}")
    if throughput:
        lines.append("throughput (samples/s = batch / median round; warm-up excluded; ratio = paired vs TF original):")
        for case, t in sorted(throughput.items(), key=lambda item: (item[0].split("/b")[0], item[1]["batch_size"])):
            ratio = t.get("ratio_vs_tensorflow")
            shown = f"  x{ratio['ratio']:.3f} TF" if ratio else ""
            lines.append(f"  {case:<28} {t['samples_per_s']:>14,.0f} samples/s  median {t['median_ms']:.3f} ms  "
                         f"{t['tail_statistic']} {t['tail_ms']:.3f} ms  rounds {t['rounds']}{shown}")
    if precision:
        lines.append("precision (what each reduced-precision engine's runtime shows; bits compared with its FP32 engine):")
        for case, p in sorted(precision.items()):
            evidence = p["evidence"]
            lines.append(f"  {case:<24} {'shown' if evidence['shown'] else 'NOT shown'}: {evidence['detail']}; "
                         f"{p['differing_elements']} of {p['elements']} outputs differ from FP32 "
                         f"(max |dp| {p['max_abs_vs_fp32']:.3g})")
    if calibration and "unavailable" in calibration:
        lines.append(f"calibration (INT8): none: {calibration['unavailable']}")
    elif calibration:
        lines.append(f"calibration (INT8): {calibration['rows']} rows, {calibration['source']}, "
                     f"SHA-256 {calibration['sha256'][:16]}")
    if scenarios:
        lines.append("scenarios (MLPerf LoadGen; figures from its detail log; null = the harness's own ceiling):")
        for case, s in sorted(scenarios.items()):
            lines += [f"  {case:<28} {line}" for line in scenario_lines(s)]
    return lines


def scenario_lines(measured: dict) -> list[str]:
    """One line per LoadGen run of a scenario case: verdict, figure, p99, and the null runner's ceiling."""
    lines = []
    run, null = measured.get("performance"), measured.get("null")
    if run:
        figure = (f"{run['completed_qps']:,.0f} QPS completed of {run['scheduled_qps']:,.0f} scheduled"
                  if run["scenario"] == "Server" else f"{run['samples_per_s']:,.0f} samples/s")
        p99 = run["latency_ms"].get("p99")  # Offline's is when the last sample of its one query came back
        latency = f"  p99 {p99:.2f} ms" if run["scenario"] != "Offline" and p99 is not None else ""
        lines.append(f"{run['validity']}  {figure}{latency}  x{run['instances']} instances"
                     + (f"  (null: {null['offline_samples_per_s']:,.0f} samples/s)" if null else ""))
    if "accuracy" in measured:
        a, tf = measured["accuracy"], measured.get("tf_original_auc")
        lines.append(f"{measured['accuracy_run']['validity']}  accuracy: AUC {a['auc']:.6f}  Top-1 {a['top1']:.5f}"
                     + (f"  ({a['auc'] / tf:.4%} of TF original's {tf:.6f})" if tf else ""))
    return lines
