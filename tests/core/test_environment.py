"""The machine record beside every figure: the CPU model and the SIMD flags that decide which kernels run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from widedeep_bench import environment

X86 = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 fma avx avx2 avx512f avx512bw avx512_bf16 avx512_fp16 avx512_vnni \
amx_bf16 amx_int8 amx_tile f16c aes

processor\t: 1
flags\t\t: fpu
"""
ARM = """processor\t: 0
Features\t: fp asimd evtstrm aes crc32 sve sve2 bf16 i8mm
"""


def test_cpu_flags_are_the_simd_flags_of_the_first_cpu(tmp_path):
    (tmp_path / "cpuinfo").write_text(X86)
    assert environment.cpu_flags(tmp_path / "cpuinfo") == [
        "amx_bf16", "amx_int8", "amx_tile", "avx", "avx2", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx512bw",
        "avx512f", "f16c", "fma", "sse4_1", "sse4_2"]


def test_cpu_flags_on_arm_are_its_vector_features(tmp_path):
    (tmp_path / "cpuinfo").write_text(ARM)
    assert environment.cpu_flags(tmp_path / "cpuinfo") == ["asimd", "bf16", "i8mm", "sve", "sve2"]


def test_without_a_readable_cpuinfo_there_are_no_flags_rather_than_an_error(tmp_path):
    assert environment.cpu_flags(tmp_path / "absent") == []


def test_the_machine_record_carries_the_cpu_model_and_flags_and_a_timing_one_the_load():
    record = environment.machine()
    assert record["cpu_flags"] == environment.cpu_flags() and record["cpu"]
    timing = environment.timing_machine()
    assert timing["physical_cores"] >= 1 and len(timing["load_average"]) == 3
    assert all(timing[key] == value for key, value in record.items())


def test_every_report_names_the_suite_version_and_its_commit_only_from_its_own_checkout(tmp_path, monkeypatch):
    import shutil

    from widedeep_bench import __version__

    record = environment.provenance()
    assert record["widedeep_bench_version"] == __version__ == record["versions"]["widedeep-bench"]
    checkout = Path(environment.__file__).resolve().parents[1]
    if (checkout / ".git").exists() and shutil.which("git"):
        assert len(record["git_commit"]) == 40
    # Installed inside some other repository (a vendor's project with a venv in it): not the suite's commit.
    other = tmp_path / "vendor-project"
    package = other / "venv" / "site-packages" / "widedeep_bench"
    package.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    subprocess.run(["git", "-C", str(other), "-c", "user.name=v", "-c", "user.email=v@x", "commit", "-q",
                    "--allow-empty", "-m", "vendor"], check=True)
    monkeypatch.setattr(environment, "__file__", str(package / "environment.py"))
    assert environment.git_commit() is None


def fake_tool(directory: Path, name: str, script: str) -> None:
    """An executable ``name`` in ``directory`` running the shell ``script``."""
    tool = directory / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


def test_accelerators_are_read_from_nvidia_smi_and_ixsmi_on_path(tmp_path, monkeypatch):
    fake_tool(tmp_path, "nvidia-smi", """[ "$1" = "--query-gpu=name,driver_version,memory.total" ] || exit 3
echo 'NVIDIA H200, 570.124.06, 143771'
echo 'NVIDIA H200, 570.124.06, [N/A]'""")
    fake_tool(tmp_path, "ixsmi", "echo 'Iluvatar BI-V150, 4.1.3, 32768'")
    monkeypatch.setenv("PATH", str(tmp_path))
    devices, problems = environment.accelerators()
    assert problems == []
    assert devices == [
        {"name": "NVIDIA H200", "driver": "570.124.06", "memory_mib": 143771, "source": "nvidia-smi"},
        {"name": "NVIDIA H200", "driver": "570.124.06", "memory_mib": None, "source": "nvidia-smi"},
        {"name": "Iluvatar BI-V150", "driver": "4.1.3", "memory_mib": 32768, "source": "ixsmi"}]
    assert environment.machine()["accelerators"] == devices


def test_a_machine_without_an_smi_tool_has_no_accelerators_and_no_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert environment.accelerators() == ([], [])
    record = environment.machine()
    assert record["accelerators"] == [] and "accelerator_problems" not in record


def test_an_smi_tool_that_fails_lists_no_device_and_says_why_in_one_line(tmp_path, monkeypatch):
    fake_tool(tmp_path, "nvidia-smi", "echo \"NVIDIA-SMI has failed because it couldn't communicate with the "
                                      "NVIDIA driver.\"; exit 9")
    monkeypatch.setenv("PATH", str(tmp_path))
    record = environment.machine()
    assert record["accelerators"] == []
    assert record["accelerator_problems"] == [
        "nvidia-smi: exited 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."]


def test_lines_an_smi_tool_prints_that_are_not_its_csv_are_named_not_counted(tmp_path, monkeypatch):
    fake_tool(tmp_path, "ixsmi", "echo 'Iluvatar MR-V100, 3.4.0, 32768'; echo 'garbage'")
    monkeypatch.setenv("PATH", str(tmp_path))
    devices, problems = environment.accelerators()
    assert [d["name"] for d in devices] == ["Iluvatar MR-V100"]
    assert problems == ["ixsmi: expected 'name, driver_version, memory.total', got 'garbage'"]


def test_an_smi_tool_that_hangs_is_given_up_after_the_timeout(tmp_path, monkeypatch):
    fake_tool(tmp_path, "nvidia-smi", "exec sleep 5")
    monkeypatch.setenv("PATH", str(tmp_path) + ":/bin:/usr/bin")
    monkeypatch.setattr(environment, "SMI_TIMEOUT_S", 0.2)
    devices, (problem,) = environment.accelerators()
    assert devices == [] and problem.startswith("nvidia-smi: could not run:") and "timed out" in problem
