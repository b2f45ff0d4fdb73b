"""Everything a suite run measured: gates, accuracy metrics, parity errors, throughput.

One ``SuiteResults`` per pytest session (on each xdist worker too; workers send theirs to the
controller as JSON, which merges them). ``as_report()`` is what ``--wd-report`` writes.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from widedeep_bench.gates import GateBook

REPORT_VERSION = 1
_PACKAGES = ("numpy", "tensorflow-cpu", "tensorflow", "tf2onnx", "onnx", "onnxsim", "onnxruntime",
             "onnxruntime-gpu", "openvino", "torch", "tensorrt", "pyarrow", "scikit-learn",
             "pytest-benchmark", "widedeep_bench")


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
                      command=command, versions=package_versions(), machine=machine(),
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


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine() -> dict[str, object]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu,
            "logical_cpus": os.cpu_count(), "hostname": platform.node(), "python": sys.version.split()[0]}


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
