"""What ran where: installed package versions, the machine, the git commit. Recorded next to results."""

from __future__ import annotations

import csv
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# The packages a report records, where installed (the optional runtimes are often absent).
REPORTED_PACKAGES = ("numpy", "tensorflow-cpu", "tensorflow", "tf2onnx", "onnx", "onnxsim", "onnxruntime",
                     "onnxruntime-gpu", "openvino", "torch", "tensorrt", "pyarrow", "scikit-learn",
                     "pytest-benchmark")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names) -> dict[str, str]:
    """Python's version, the suite's own, and each installed distribution's among ``names`` (absent ones left
    out). The suite's is the package's own ``__version__``, so it is there even in a checkout run uninstalled."""
    from widedeep_bench import __version__

    versions = {"python": platform.python_version(), "widedeep-bench": __version__}
    versions.update({name: version for name in names if (version := package_version(name)) is not None})
    return versions


# The CPU flags that decide which kernels a runtime picks (oneDNN, MLAS, OpenBLAS all dispatch on them):
# the same model runs at different speeds on an AVX2 and an AVX-512 / AMX part of the same family.
SIMD_FLAG_PREFIXES = ("sse4", "avx", "fma", "f16c", "amx", "vnni")  # x86 /proc/cpuinfo "flags"
ARM_SIMD_FEATURES = ("asimd", "sve", "sve2", "bf16", "i8mm")  # Arm /proc/cpuinfo "Features"
CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(text: str, key: str) -> str | None:
    """The value of the first ``key : value`` line in /proc/cpuinfo text, or None."""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key:
            return value.strip()
    return None


def cpu_flags(cpuinfo: Path = CPUINFO) -> list[str]:
    """The SIMD flags of the first CPU in ``cpuinfo`` (x86 ``flags``, Arm ``Features``), sorted:
    ``["avx", "avx2", "avx512f", ..., "fma"]``. Empty where the file cannot be read (not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return []
    flags = _cpuinfo_field(text, "flags") or _cpuinfo_field(text, "Features") or ""
    return sorted(flag for flag in set(flags.split()) if flag.startswith(SIMD_FLAG_PREFIXES)
                  or flag in ARM_SIMD_FEATURES)


# The vendors' SMI tools that list accelerators, with the query both understand (Iluvatar's ixsmi mirrors
# nvidia-smi's interface). Memory is MiB with "nounits".
SMI_TOOLS = ("nvidia-smi", "ixsmi")
SMI_QUERY = ("--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits")
SMI_TIMEOUT_S = 10


def accelerators(tools=SMI_TOOLS) -> tuple[list[dict], list[str]]:
    """The accelerators the vendors' SMI tools on PATH list, ``[{"name", "driver", "memory_mib", "source"}]``,
    and the problems met reading them, one line each. A tool that is absent adds nothing; one that is present
    and fails (a CUDA container without a driver: nvidia-smi exits 9) or prints what is not its CSV adds a
    problem line, never an accelerator, so the list counts only devices that answered."""
    found, problems = [], []
    for tool in tools:
        path = shutil.which(tool)
        if path is None:
            continue
        try:
            out = subprocess.run([path, *SMI_QUERY], capture_output=True, text=True, timeout=SMI_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"{tool}: could not run: {exc}")
            continue
        if out.returncode != 0:
            said = (out.stderr.strip() or out.stdout.strip()).splitlines() or ["no output"]
            problems.append(f"{tool}: exited {out.returncode}: {said[0]}")
            continue
        devices, unread = _smi_rows(out.stdout, tool)
        found += devices
        problems += [f"{tool}: expected 'name, driver_version, memory.total', got {line!r}" for line in unread]
    return found, problems


def _smi_rows(text: str, tool: str) -> tuple[list[dict], list[str]]:
    """The devices of an SMI tool's CSV, and the lines that are not three fields. A memory that is not a number
    ("[N/A]" on some boards) is None."""
    devices, unread = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in next(csv.reader([line]))]
        if len(fields) != 3 or not fields[0]:
            unread.append(line)
            continue
        name, driver, memory = fields
        devices.append({"name": name, "driver": driver, "memory_mib": int(memory) if memory.isdigit() else None,
                        "source": tool})
    return devices, unread


def machine() -> dict[str, object]:
    """The machine a figure was taken on: CPU model and SIMD flags, logical CPUs, platform, host, Python, and
    the accelerators with their driver (``accelerators()``; ``accelerator_problems`` only when reading them
    went wrong)."""
    cpu = platform.processor()
    try:
        cpu = _cpuinfo_field(CPUINFO.read_text(), "model name") or cpu
    except OSError:
        pass
    devices, problems = accelerators()
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu,
            "cpu_flags": cpu_flags(), "logical_cpus": os.cpu_count(), "hostname": platform.node(),
            "python": sys.version.split()[0], "accelerators": devices,
            **({"accelerator_problems": problems} if problems else {})}


def timing_machine() -> dict[str, object]:
    """``machine()`` plus what moves a CPU timing: physical cores and the load averages (1, 5, 15 min) now."""
    import joblib

    return {**machine(), "physical_cores": joblib.cpu_count(only_physical_cores=True),
            "load_average": list(os.getloadavg())}


def git_commit() -> str | None:
    """The commit of the suite's own checkout, or None when it runs installed (a package in site-packages
    may lie inside some other repository, whose commit would say nothing about the suite)."""
    package = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], capture_output=True, text=True,
                             timeout=10, cwd=package)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != package.parent:
        return None
    return lines[1]


def provenance() -> dict[str, object]:
    """What every report and benchmark JSON records about the software that produced it: the suite's
    version, the installed packages' versions and the suite's own git commit (None when installed)."""
    from widedeep_bench import __version__

    return {"widedeep_bench_version": __version__, "versions": package_versions(REPORTED_PACKAGES),
            "git_commit": git_commit()}
