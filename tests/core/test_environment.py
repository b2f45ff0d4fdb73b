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
