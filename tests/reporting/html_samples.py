"""Realistic reports built in memory for the HTML page's tests: a version-3 report as a run on a machine with
one GPU writes it (figures of the order this project's CPU runs measure), its version-2 form, and a fleet."""

from __future__ import annotations

import copy

import numpy as np

ENGINES = {"onnxruntime-fp32": 1.0, "onnxruntime-int8": 1.9, "tensorflow-fp32": 0.45, "null-fp32": 40.0}
BATCHES = (1024, 4096)
BASE_SAMPLES_PER_S = 120_000.0


def sample_report(*, rate_scale: float = 1.0, hostname: str = "ci-runner-1") -> dict:
    """A version-3 report: four engines at two batches with their rounds, two parity cases with histograms,
    accuracy with the all-negative baseline, one Offline scenario, gates PASS / FAIL / NOT RUN."""
    return {
        "report_version": 3, "passed": False, "allow_missing": False,
        "problems": ["gate 'throughput onnxruntime-int8/b4096: speed-up >= 2.5x TF original' failed"],
        "gates": _gates(), "throughput": _throughput(rate_scale), "parity": _parity(), "accuracy": _accuracy(),
        "scenarios": _scenarios(), "precision": {}, "context": {"profile": "default"},
        "created": "2025-06-01T12:00:00+00:00",
        "command": ["widedeep-bench", "test", "--wd-report", "out/report.json"],
        "git_commit": "45685647e1c4d63296dfdffeb010dcef7f885d2d",
        "versions": {"numpy": "2.4.6", "onnxruntime": "1.32.0", "tensorflow-cpu": "2.21.0", "widedeep-bench": "0.1.0"},
        "machine": {"cpu": "AMD EPYC 9654", "cpu_flags": ["avx", "avx2", "avx512f", "fma"], "logical_cpus": 16,
                    "platform": "Linux-6.8-x86_64-with-glibc2.36", "hostname": hostname, "python": "3.11.7",
                    "machine": "x86_64", "accelerators": [{"name": "NVIDIA H200", "driver": "560.35.03",
                                                           "memory_mib": 143771, "source": "nvidia-smi"}]},
    }


def version_2(report: dict) -> dict:
    """The same report as version 2 wrote it: no rounds, no histograms, no accelerators."""
    old = copy.deepcopy(report)
    old["report_version"] = 2
    for case in old["throughput"].values():
        del case["round_seconds"]
    for case in old["parity"].values():
        del case["histogram"]
    del old["machine"]["accelerators"]
    return old


def sample_fleet() -> dict:
    """Two machines' reports merged, as ``widedeep-bench merge`` writes them."""
    members = []
    for label, hostname, scale in (("AMD EPYC 9654 / ci-runner-1", "ci-runner-1", 1.0),
                                   ("AMD EPYC 9654 / ci-runner-2", "ci-runner-2", 0.8)):
        report = sample_report(rate_scale=scale, hostname=hostname)
        members.append({"label": label, "source": f"reports/{hostname}.json", "machine": report["machine"],
                        "report": report})
    return {"fleet_version": 1, "created": "2025-06-01T13:00:00+00:00", "members": members}


def _gate(name: str, status: str, measured: float | None, op: str, threshold: float, unit: str, method: str,
          why: str = "") -> dict:
    passed = {"PASS": True, "FAIL": False}.get(status)
    return {"name": name, "status": status, "measured": measured, "op": op, "threshold": threshold, "unit": unit,
            "method": method, "passed": passed, "why": why}


def _gates() -> list[dict]:
    timing = "median of 20 rounds after 3 warm-up rounds, paired with the TF original"
    return [
        _gate("parity onnxruntime-fp32/b1024: max |a-b| <= atol", "PASS", 1.2e-7, "<=", 1e-5, "", "numpy.allclose rule"),
        _gate("accuracy onnxruntime-fp32: AUC >= TF original - 0.001", "PASS", 0.81194, ">=", 0.81094, "",
              "whole eval set at batch 1024; AUC by scikit-learn"),
        _gate("throughput onnxruntime-int8/b4096: speed-up >= 2.5x TF original", "FAIL", 2.1, ">=", 2.5, "x", timing),
        _gate("throughput tensorrt-fp16/b4096: samples/s >= profile minimum", "NOT RUN", None, ">=", 500_000.0,
              "samples/s", timing, why="tensorrt not importable"),
    ]


def _throughput(rate_scale: float) -> dict:
    rng = np.random.default_rng(0)
    cases = {}
    for engine, speed in ENGINES.items():
        backend, precision = engine.rsplit("-", 1)
        for batch in BATCHES:
            rate = BASE_SAMPLES_PER_S * speed * rate_scale * (1.3 if batch == 4096 else 1.0)
            rounds = (batch / rate) * rng.lognormal(0.0, 0.04, size=20)
            median_ms = float(np.median(rounds)) * 1e3
            cases[f"{engine}/b{batch}"] = {
                "backend": backend, "precision": precision, "batch_size": batch, "samples_per_s": batch / (median_ms / 1e3),
                "median_ms": median_ms, "rounds": 20, "tail_statistic": "p95", "tail_ms": float(np.percentile(rounds, 95)) * 1e3,
                "method": "median of 20 rounds after 3 warm-up rounds",
                "ratio_vs_tensorflow": None if engine == "tensorflow-fp32" else {"ratio": speed / ENGINES["tensorflow-fp32"]},
                "round_seconds": rounds.tolist()}
    return cases


def _parity() -> dict:
    edges = np.logspace(-9, 0, 19).tolist()
    fp32_counts = [0, 3, 40, 410, 1200, 380, 14, 1] + [0] * 10
    int8_counts = [0] * 6 + [2, 30, 260, 900, 700, 150, 6] + [0] * 5
    return {
        "onnxruntime-fp32/b1024 vs tensorflow-fp32": _parity_case(edges, fp32_counts, zeros=0, atol=1e-5, failing=0),
        "onnxruntime-int8/b1024 vs onnxruntime-fp32": _parity_case(edges, int8_counts, zeros=0, atol=0.2, failing=0),
    }


def _parity_case(edges: list[float], counts: list[int], *, zeros: int, atol: float, failing: int) -> dict:
    elements = sum(counts) + zeros
    return {"atol": atol, "rtol": 0.0, "max_abs": atol / 3, "p99_abs": atol / 10, "mean_abs": atol / 100,
            "median_abs": atol / 200, "failing": failing, "elements": elements, "passed": failing == 0,
            "worst_rows": [], "histogram": {"edges": edges, "counts": counts, "zeros": zeros, "unit": "absolute error"}}


def _accuracy() -> dict:
    metrics = {"onnxruntime-fp32": (0.79371, 0.81194), "onnxruntime-int8": (0.79102, 0.80811),
               "tensorflow-fp32": (0.79371, 0.81194)}
    return {engine: {"top1": top1, "auc": auc, "logloss": 0.4403, "positive_rate": 0.2546484375, "rows": 512000,
                     "all_negative_top1": 1 - 0.2546484375} for engine, (top1, auc) in metrics.items()}


def _scenarios() -> dict:
    latency = {"p50": 2.8, "p90": 3.95, "p95": 4.5, "p97": 5.05, "p99": 6.38, "p999": 9.43}
    return {
        "Offline onnxruntime-fp32": {"performance": {"scenario": "Offline", "validity": "VALID", "samples_per_s": 39076.3,
                                                     "completed_qps": None, "scheduled_qps": None, "instances": 2,
                                                     "latency_ms": {**latency, "p99": 3389.9}},
                                     "null": {"offline_samples_per_s": 624281.0}},
        "Server onnxruntime-fp32": {"performance": {"scenario": "Server", "validity": "VALID", "samples_per_s": None,
                                                    "completed_qps": 1948.46, "scheduled_qps": 1950.24, "instances": 2,
                                                    "latency_ms": latency},
                                    "null": {"offline_samples_per_s": 599720.0}},
    }
