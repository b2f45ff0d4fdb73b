"""Realistic reports built in memory, as ``pytest --wd-report`` writes them (report_version 3).

``sample_report(seed=0)`` times four perf cases with ``rounds`` rounds drawn from a seeded normal around
each case's median (``noise`` relative standard deviation), so two seeds are two runs of one machine;
``speed={case: 0.8}`` makes one case's rounds 20% slower; ``drifting(report, seed=...)`` adds the slow
wander of a real machine's load within the run. Its gates are evaluated by ``widedeep_bench.gates``
from the figures, so ``report`` re-judges them to the same statuses.
"""

from __future__ import annotations

import copy

import numpy as np

from widedeep_bench import gates

# case -> median samples/s of the sample machine
MEDIANS = {"onnxruntime-fp32/b1024": 410_000.0, "onnxruntime-fp32/b4096": 520_000.0,
           "tensorflow-fp32/b1024": 150_000.0, "null-fp32/b1024": 9_000_000.0}
PERF_MINIMUM = 100_000.0  # the profile's min_samples_per_s for onnxruntime-fp32/b1024
MACHINE = {"cpu": "AMD EPYC 7763 64-Core Processor", "cpu_flags": ["avx", "avx2", "fma", "sse4_2"],
           "logical_cpus": 4, "platform": "Linux-6.5.0-x86_64-with-glibc2.36", "hostname": "runner-a",
           "python": "3.11.2", "machine": "x86_64", "accelerators": []}


def sample_report(*, seed: int = 0, rounds: int = 30, noise: float = 0.03, speed: dict[str, float] | None = None,
                  **changes) -> dict:
    """A passing version-3 report; ``changes`` replace top-level keys (``machine=...``)."""
    rng = np.random.default_rng(seed)
    throughput = {case: _timed(case, median * (speed or {}).get(case, 1.0), rounds, noise, rng)
                  for case, median in MEDIANS.items()}
    accuracy = {"onnxruntime-fp32": {"top1": 0.7745, "auc": 0.7931, "logloss": 0.4712, "positive_rate": 0.2566,
                                     "all_negative_top1": 0.7434, "rows": 65_536}}
    parity_case = "onnxruntime-fp32/b1024 vs tensorflow"
    parity = {parity_case: {"atol": 1e-5, "rtol": 0.0, "max_abs": 2.4e-7, "p99_abs": 1.2e-7, "mean_abs": 2.1e-8,
                            "median_abs": 1.5e-8, "failing": 0, "elements": 2048, "passed": True, "worst_rows": [],
                            "histogram": {"edges": [1e-9, 1e-8, 1e-7, 1e-6], "counts": [300, 1500, 200],
                                          "zeros": 48, "unit": "absolute error"}}}
    results = [gates.evaluate(gates.accuracy_floor_name("onnxruntime-fp32"), 0.7745, ">=", 0.77, method="eval set"),
               gates.evaluate(gates.accuracy_auc_name("onnxruntime-fp32"), 0.7931, ">=", 0.55, method="eval set"),
               gates.evaluate(gates.parity_gate_name("onnxruntime-fp32", 1024, "tensorflow"), 2.4e-7, "<=", 1e-5,
                              method="allclose rule"),
               gates.evaluate(gates.perf_absolute_name("onnxruntime-fp32", 1024, None),
                              throughput["onnxruntime-fp32/b1024"]["samples_per_s"], ">=", PERF_MINIMUM,
                              unit="samples/s", method="median round")]
    report = {"report_version": 3, "passed": True, "problems": [], "allow_missing": False,
              "gates": [gates.GateRow(r.name, gates.PASS if r.passed else gates.FAIL, r).as_dict() for r in results],
              "accuracy": accuracy, "parity": parity, "throughput": throughput, "scenarios": {}, "precision": {},
              "context": {}, "created": "2025-01-01T00:00:00+00:00", "command": ["pytest", "--wd-report", "r.json"],
              "git_commit": "0" * 40, "widedeep_bench_version": "0.1.0",
              "versions": {"onnxruntime": "1.18.0", "numpy": "1.26.4"}, "machine": copy.deepcopy(MACHINE)}
    report.update(changes)
    return report


def _timed(case: str, median_samples_per_s: float, rounds: int, noise: float, rng) -> dict:
    backend_precision, _, batch = case.rpartition("/b")
    backend, precision = backend_precision.split("-")
    batch_size = int(batch)
    seconds = batch_size / median_samples_per_s * np.clip(1 + noise * rng.standard_normal(rounds), 0.5, None)
    ms = seconds * 1e3
    return {"backend": backend, "precision": precision, "batch_size": batch_size,
            "samples_per_s": float(batch_size / np.median(seconds)), "median_ms": float(np.median(ms)),
            "rounds": rounds, "tail_statistic": "p99" if rounds >= 100 else "max",
            "tail_ms": float(np.percentile(ms, 99) if rounds >= 100 else ms.max()),
            "method": "pytest-benchmark pedantic", "ratio_vs_tensorflow": None,
            "round_seconds": [float(s) for s in seconds]}


def failing(report: dict, gate_name_start: str) -> dict:
    """``report`` with the gate whose name starts with ``gate_name_start`` measured below its threshold (FAIL)."""
    for gate in report["gates"]:
        if gate["name"].startswith(gate_name_start):
            measured = gate["threshold"] * (0.5 if gate["op"] == ">=" else 2)
            gate.update(measured=measured, status=gates.FAIL, passed=False)
            report.update(passed=False)
            return report
    raise KeyError(gate_name_start)


def as_version_2(report: dict) -> dict:
    """``report`` as version 2 wrote it: no round_seconds, no parity histogram, no accelerators."""
    old = copy.deepcopy(report)
    old["report_version"] = 2
    for figures in old["throughput"].values():
        figures.pop("round_seconds")
    for figures in old["parity"].values():
        figures.pop("histogram")
    old["machine"].pop("accelerators")
    return old


def drifting(report: dict, *, seed: int, spread: float = 0.02, persistence: float = 0.98) -> dict:
    """``report`` with every case's rounds drifting slowly, as a real machine's load does within one run: an
    AR(1) factor (``persistence`` per round, stationary relative standard deviation ``spread``, so about +-4%)
    on each round's seconds, seeded, in timing order; the medians recomputed from the drifted rounds."""
    rng = np.random.default_rng(seed)
    drifted = copy.deepcopy(report)
    for figures in drifted["throughput"].values():
        seconds = np.asarray(figures["round_seconds"], dtype=float)
        wander = np.empty(seconds.size)
        wander[0] = spread * rng.standard_normal()
        for i in range(1, seconds.size):
            wander[i] = persistence * wander[i - 1] + spread * np.sqrt(1 - persistence**2) * rng.standard_normal()
        seconds = seconds * (1 + wander)
        ms = seconds * 1e3
        figures.update(samples_per_s=float(figures["batch_size"] / np.median(seconds)), median_ms=float(np.median(ms)),
                       tail_ms=float(np.percentile(ms, 99) if seconds.size >= 100 else ms.max()),
                       round_seconds=[float(s) for s in seconds])
    return drifted
