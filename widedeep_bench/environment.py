"""What ran where: installed package versions, the machine, the git commit. Recorded next to results."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# The packages a report records, where installed (the optional runtimes are often absent).
REPORTED_PACKAGES = ("numpy", "tensorflow-cpu", "tensorflow", "tf2onnx", "onnx", "onnxsim", "onnxruntime",
                     "onnxruntime-gpu", "openvino", "torch", "tensorrt", "pyarrow", "scikit-learn",
                     "pytest-benchmark", "widedeep_bench")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names) -> dict[str, str]:
    """Python's version and each installed distribution's among ``names`` (absent ones left out)."""
    versions = {"python": platform.python_version()}
    versions.update({name: version for name in names if (version := package_version(name)) is not None})
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
