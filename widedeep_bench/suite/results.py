"""Everything a suite run measured: gates, accuracy metrics, parity errors, throughput.

One ``SuiteResults`` per pytest session (on each xdist worker too; workers send theirs to the
controller as JSON, which merges them). ``as_report()`` is what ``--wd-report`` writes.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from widedeep_bench.environment import REPORTED_PACKAGES, git_commit, machine, package_versions
from widedeep_bench.gates import GateBook

REPORT_VERSION = 1


class SuiteResults:
    def __init__(self) -> None:
        self.gates = GateBook()
        self.accuracy: dict[str, dict] = {}  # "backend/precision" -> top1, auc, logloss, positive_rate, rows
        self.parity: dict[str, dict] = {}  # "backend/precision/batch vs reference" -> Comparison fields
        self.throughput: dict[str, dict] = {}  # "backend/precision/batch" -> samples_per_s, p50_ms, p99_ms, ...
        self.context: dict[str, object] = {}  # assets, profile, engine keys

    def merge(self, other: dict) -> None:
        self.gates.extend(other.get("gates", []))
        for section in ("accuracy", "parity", "throughput", "context"):
            getattr(self, section).update(other.get(section, {}))

    def as_dict(self) -> dict:
        return {"gates": [g.as_dict() for g in self.gates.results], "accuracy": self.accuracy,
                "parity": self.parity, "throughput": self.throughput, "context": self.context}

    def as_report(self, command: list[str]) -> dict:
        report = self.as_dict()
        report.update(report_version=REPORT_VERSION, passed=not self.gates.failed,
                      created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      command=command, versions=package_versions(REPORTED_PACKAGES), machine=machine(),
                      git_commit=git_commit())
        return report

    def write_report(self, path: Path, command: list[str]) -> None:
        from widedeep_bench.cache import atomic_file

        with atomic_file(Path(path)) as tmp:
            tmp.write_text(json.dumps(self.as_report(command), indent=2, sort_keys=True) + "\n")

    def summary_lines(self) -> list[str]:
        lines = ["gates:", *("  " + line for line in self.gates.table().splitlines())]
        if self.accuracy:
            lines.append("accuracy (whole eval set, batch 1024, final partial batch dropped):")
            for case, m in sorted(self.accuracy.items()):
                lines.append(f"  {case:<24} Top-1 {m['top1']:.5f}  AUC {m['auc']:.5f}  "
                             f"log loss {m['logloss']:.5f}  rows {m['rows']}")
        if self.throughput:
            lines.append("throughput (median of timed rounds after warm-up; samples/s counts samples):")
            for case, t in sorted(self.throughput.items(), key=lambda item: (item[0].split("/b")[0],
                                                                             item[1]["batch_size"])):
                lines.append(f"  {case:<28} {t['samples_per_s']:>14,.0f} samples/s  p50 {t['p50_ms']:.3f} ms  "
                             f"p99 {t['p99_ms']:.3f} ms")
        return lines
