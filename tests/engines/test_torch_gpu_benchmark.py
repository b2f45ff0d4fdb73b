"""``widedeep-bench bench gpu`` without a GPU: its floors, its time split, its refusal, and the --cpu smoke run.

The GPU figures themselves can only be taken on a GPU (docs/gpu.md); here the same code path runs on
the CPU in FP32, which proves the command end to end except for the CUDA-only lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import widedeep_bench.profiles
from widedeep_bench import layout
from widedeep_bench.__main__ import build_parser, main
from widedeep_bench.bench import gpu_throughput
from widedeep_bench.commands.bench import check_gpu
from widedeep_bench.environment import cpu_flags

torch = pytest.importorskip("torch")

H100_TORCH = Path(widedeep_bench.profiles.__file__).parent / "h100-torch.toml"
SMOKE_ROWS = 512


def gpu_command(*argv) -> int:
    """``widedeep-bench bench gpu ARGV`` in this process: its exit code (argparse's own refusals included)."""
    try:
        return main(["bench", "gpu", *(str(arg) for arg in argv)])
    except SystemExit as exc:
        return exc.code


def parsed(*argv):
    """The options of ``bench gpu ARGV`` as the command checks and completes them before measuring anything."""
    args = build_parser().parse_args(["bench", "gpu", *argv])
    check_gpu(args)
    return args


@pytest.fixture(scope="module")
def smoke_csv(tmp_path_factory) -> Path:
    from widedeep_bench.synthetic.criteo_rows import write_criteo_csv

    return write_criteo_csv(tmp_path_factory.mktemp("gpu-bench") / "eval.csv", SMOKE_ROWS)


def test_the_flop_floor_is_3_04_mflop_per_sample_over_the_peak():
    fp16 = gpu_throughput.floors(1024, "fp16", gpu_throughput.PEAKS)
    fp32 = gpu_throughput.floors(1024, "fp32", gpu_throughput.PEAKS)
    assert fp16["flop_s"] == pytest.approx(1024 * 3.04e6 / 989.4e12, rel=1e-3)
    assert fp32["flop_s"] == pytest.approx(1024 * 3.04e6 / 66.9e12, rel=1e-3)
    assert fp16["link_bytes"] == fp32["link_bytes"] == 1024 * (26 * 2 * 8 + 13 * 4 + 2 * 4)
    tables_and_weights_fp32 = fp32["device_bytes"] - fp32["link_bytes"]
    assert fp16["device_bytes"] - fp16["link_bytes"] == tables_and_weights_fp32 // 2  # FP16 halves table reads
    assert fp16["end_to_end_floor_s"] == pytest.approx(max(fp16["flop_s"], fp16["hbm_s"]) + fp16["link_s"])


def test_with_narrow_indices_the_floors_count_the_inputs_as_fed_int16_buckets_and_float32_numerics():
    feed = gpu_throughput.floors(1024, "fp16", gpu_throughput.PEAKS, frozenset({"f32_head"}))
    narrow = gpu_throughput.floors(1024, "fp16", gpu_throughput.PEAKS, frozenset({"narrow_indices", "f32_head"}))
    assert narrow["link_bytes"] == 1024 * (26 * 2 + 13 * 4 + 2 * 4) and narrow["input_bytes_per_sample"] == 104
    assert feed["device_bytes"] - narrow["device_bytes"] == feed["link_bytes"] - narrow["link_bytes"] == 1024 * 364
    assert feed == gpu_throughput.floors(1024, "fp16", gpu_throughput.PEAKS)  # pure: the same levers, the same
    assert narrow["input_layout"] == "narrow_indices: buckets int16 [26] + numeric float32 [13]"
    assert feed["input_layout"].startswith("the feed: (field, bucket) int64 [26, 2]")


@pytest.mark.parametrize("name, kind", [
    ("void at::native::(anonymous namespace)::indexSelectLargeIndex<c10::Half, long, unsigned int, 2, 2, -2, "
     "true>(at::cuda::detail::TensorInfo<c10::Half, unsigned int>)", "gathers"),
    ("sm90_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off", "gemms"),
    ("nvjet_hsh_128x256_64x4_1x2_h_bz_coopA_NTN", "gemms"),
    ("void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_64x64_16x6_tn_align4>(Params)", "gemms"),
    ("Memcpy HtoD (Pinned -> Device)", "copies"),
    ("Memcpy DtoH (Device -> Pinned)", "copies"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::sigmoid_kernel_cuda(at::TensorIteratorBase&)"
     "::{lambda()#2}, at::detail::Array<char*, 2> >(int, T2, T3)", "other"),
    ("aten::addmm", "gemms"), ("aten::index_select", "gathers"), ("aten::cat", "other"), ("aten::copy_", "copies"),
])
def test_kernel_and_op_names_are_split_into_gathers_gemms_copies_and_other(name, kind):
    assert gpu_throughput.kernel_kind(name) == kind


def test_the_default_targets_are_issue_6_s_h100_fp16_figures_from_the_h100_torch_profile():
    args = parsed()
    assert args.targets == "h100-torch" and args.targets_profile == str(H100_TORCH)
    assert {t.metric: t.min for t in args.profile_targets} == {
        "fp16_b1024_compute_samples_per_s": 10_000_000, "fp16_b1024_end_to_end_samples_per_s": 3_000_000,
        "fp16_b16384_compute_samples_per_s": 50_000_000}


def test_targets_are_judged_only_on_a_gpu_and_only_for_the_cases_selected():
    targets = parsed().profile_targets
    cases = [{"precision": "fp16", "batch": 1024, "levers": "none", "compute": {"samples_per_s": 12e6},
              "end_to_end": {"samples_per_s": 2.9e6}}]
    verdicts = gpu_throughput.targets_of(targets, cases, gpu=True, selected={("fp16", 1024)})
    on_gpu = {t["metric"]: t["met"] for t in verdicts}
    assert on_gpu == {"fp16_b1024_compute_samples_per_s": True, "fp16_b1024_end_to_end_samples_per_s": False,
                      "fp16_b16384_compute_samples_per_s": None}
    on_cpu = gpu_throughput.targets_of(targets, cases, gpu=False, selected={("fp16", 1024)})
    assert {t["met"] for t in on_cpu} == {None} and {t["not_applicable"] for t in on_cpu} == {"--cpu, not a GPU figure"}


def test_each_target_is_judged_on_the_best_lever_set_s_figure_and_a_failed_case_has_none():
    targets = parsed().profile_targets
    agrees = {"tensorflow": {"passed": True}, "onnxruntime-fp32": {"passed": None}}
    cases = [{"precision": "fp16", "batch": 1024, "levers": "none", "compute": {"samples_per_s": 9e6},
              "end_to_end": {"samples_per_s": 3.1e6}, "agreement": agrees},
             {"precision": "fp16", "batch": 1024, "levers": "fused_epilogue", "compute": {"samples_per_s": 11e6},
              "end_to_end": {"samples_per_s": 2.5e6}, "agreement": agrees},
             {"precision": "fp16", "batch": 16384, "levers": "all", "error": "measuring: RuntimeError: CUDA error"}]
    best = gpu_throughput.best_figures(cases)
    assert best == {"fp16_b1024_compute_samples_per_s": {"samples_per_s": 11e6, "levers": "fused_epilogue"},
                    "fp16_b1024_end_to_end_samples_per_s": {"samples_per_s": 3.1e6, "levers": "none"}}
    verdicts = gpu_throughput.targets_of(targets, cases, gpu=True, selected={("fp16", 1024), ("fp16", 16384)})
    assert [(t["measured"], t["met"]) for t in verdicts] == [(11e6, True), (3.1e6, True), (None, False)]
    report = {"benchmark": "gpu_throughput", "targets": verdicts, "cases": cases}
    assert gpu_throughput.misses(report)[-1] == "FAIL fp16 b16384 all: measuring: RuntimeError: CUDA error"


def test_a_faster_case_that_disagrees_with_any_reference_is_never_the_best_and_targets_skip_it():
    targets = parsed().profile_targets
    agrees = {"tensorflow": {"passed": True}, "onnxruntime-fp32": {"passed": None}}
    disagrees = {"tensorflow": {"passed": None}, "onnxruntime-fp32": {"passed": False}}
    slow = {"precision": "fp16", "batch": 1024, "levers": "none", "compute": {"samples_per_s": 9e6},
            "end_to_end": {"samples_per_s": 2e6}, "agreement": agrees}
    fast = {"precision": "fp16", "batch": 1024, "levers": "all", "compute": {"samples_per_s": 20e6},
            "end_to_end": {"samples_per_s": 4e6}, "agreement": disagrees}
    wrong_16384 = {**fast, "batch": 16384, "compute": {"samples_per_s": 60e6}}
    cases = [slow, fast, wrong_16384]
    assert gpu_throughput.best_figures(cases) == {
        "fp16_b1024_compute_samples_per_s": {"samples_per_s": 9e6, "levers": "none"},
        "fp16_b1024_end_to_end_samples_per_s": {"samples_per_s": 2e6, "levers": "none"}}
    verdicts = gpu_throughput.targets_of(targets, cases, gpu=True, selected={("fp16", 1024), ("fp16", 16384)})
    # judged on the agreeing case; b16384's only case disagrees: unmeasured, so missed
    assert [(t["measured"], t["met"]) for t in verdicts] == [(9e6, False), (2e6, False), (None, False)]


def test_on_a_gpu_a_selected_case_without_its_figure_is_missed_not_passed():
    targets = parsed().profile_targets
    verdicts = gpu_throughput.targets_of(targets, [], gpu=True, selected={("fp16", 1024), ("fp16", 16384)})
    assert [t["met"] for t in verdicts] == [False, False, False]


@pytest.mark.parametrize("metric, words", [
    ("fp16_b1024_samples_per_s", "[[target]] metrics ['fp16_b1024_samples_per_s'] are not measured by "
                                 "gpu_throughput; its metrics are <fp16|fp32>_b<batch>_"),
    ("int8_b1024_compute_samples_per_s", "metrics ['int8_b1024_compute_samples_per_s'] are not measured"),
])
def test_a_targets_profile_naming_a_figure_this_benchmark_does_not_measure_is_refused(tmp_path, capsys,
                                                                                     metric, words):
    path = tmp_path / "lab.toml"
    path.write_text(H100_TORCH.read_text().replace('"fp16_b1024_compute_samples_per_s"', f'"{metric}"'))
    assert gpu_command("--targets", path) == 2
    assert words in capsys.readouterr().err


def test_a_targets_profile_without_gpu_throughput_targets_is_refused(capsys):
    assert gpu_command("--targets", "cpu-default") == 2
    assert "--targets: profile " in (err := capsys.readouterr().err) and "benchmark = 'gpu_throughput'" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_cuda_the_benchmark_refuses_with_exit_2_and_says_why(capsys, tmp_path):
    assert gpu_command("--json", tmp_path / "out.json") == 2
    message = capsys.readouterr().err
    assert "widedeep-bench bench gpu: error: no CUDA device" in message and "--cpu" in message
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("argv, words", [
    (["--cpu", "--precisions", "fp16"], "--cpu runs fp32 only"),
    (["--batches", "0"], "--batches must be at least 1"),
    (["--rounds", "0"], "1 <= min_rounds"),
    (["--duration", "-1"], "min_duration_s must be a finite number >= 0"),
    (["--hbm-gbps", "0"], "peaks and bandwidths must be positive"),
    (["--profile"], "unrecognized arguments: --profile"),  # the torch profiler is --torch-profile
    (["--targets", "no-such-profile"], "--targets: profile 'no-such-profile' not found"),
    (["--cpu", "--levers", "none", "warp_speed"], "--levers warp_speed: unknown torch lever 'warp_speed'"),
    (["--cpu", "--levers", "none", "none"], "--levers: none is the lever set none again; give each set once"),
    (["--cpu", "--bundle", "b", "--onnx", "m.onnx"], "--bundle b and --onnx m.onnx cannot be given together"),
    (["--cpu", "--bundle", "b", "--eval-csv", "e.csv"], "--bundle b and --eval-csv e.csv cannot be given together"),
    (["--cpu", "--rows", "r.npz"], "--rows r.npz needs --onnx FILE"),
    (["--cpu", "--onnx", "m.onnx", "--reference", "r.npz", "--eval-csv", "e.csv", "--rows", "r.npz"],
     "--rows and --eval-csv cannot be given together"),
])
def test_bad_arguments_are_refused(capsys, argv, words):
    assert gpu_command(*argv) == 2
    assert words in capsys.readouterr().err


def _smoke_argv(converted_onnx, smoke_csv, json_path, *extra, batches=("64", "128"), levers=("none",)) -> list[str]:
    return ["--cpu", "--onnx", str(converted_onnx), "--eval-csv", str(smoke_csv), "--batches", *batches,
            "--levers", *levers, "--rounds", "3", "--warmup", "1", "--duration", "0", "--warmup-s", "0",
            "--json", str(json_path), *extra]


def test_the_cpu_smoke_run_measures_every_case_and_says_it_is_not_a_gpu_figure(converted_onnx, smoke_csv,
                                                                             tmp_path, capsys):
    json_path = tmp_path / "out" / "gpu.json"
    assert gpu_command(*_smoke_argv(converted_onnx, smoke_csv, json_path, levers=("none", "all"))) == 0
    report = json.loads(json_path.read_text())
    assert report["gpu_figure"] is False and report["device"] == "cpu" and report["complete"] is True
    assert [(c["precision"], c["levers"], c["batch"]) for c in report["cases"]] == [
        ("fp32", "none", 64), ("fp32", "none", 128), ("fp32", "all", 64), ("fp32", "all", 128)]
    assert report["lever_sets"] == ["none", "all"] and report["cases_planned"] == 4
    for case in report["cases"]:
        assert case["distinct_batches"] == SMOKE_ROWS // case["batch"]
        assert case["compute"]["rounds"] == case["end_to_end"]["rounds"] == 3
        assert case["compute"]["tail_statistic"] == "max" and case["compute"]["p99_ms"] is None  # < 100 rounds
        assert case["end_to_end"]["samples_per_s"] == pytest.approx(case["batch"] / case["end_to_end"]["median_ms"]
                                                                    * 1e3)
        assert case["ratio_to_seed"]["end_to_end"] == pytest.approx(case["end_to_end"]["samples_per_s"] / 77073.93)
        assert case["agreement"]["onnxruntime-fp32"]["passed"] is True
        assert case["agreement"]["tensorflow"]["passed"] is None  # no saved TF probabilities without --reference
        assert isinstance(case["compute_method"], str) and case["compute_method"]
        assert "split" not in case  # the profile is a run of its own
    best = report["best"]["fp32_b64_compute_samples_per_s"]
    assert best["levers"] in ("none", "all") and best["samples_per_s"] == max(
        c["compute"]["samples_per_s"] for c in report["cases"] if c["batch"] == 64)
    assert {t["met"] for t in report["targets"]} == {None} and len(report["targets"]) == 3
    assert report["targets_profile"].endswith("h100-torch.toml")
    assert "timed rounds >= 3" in report["method"]["plan"] and report["machine"]["cpu_flags"] == cpu_flags()
    table = (tmp_path / "out" / "gpu.txt").read_text()
    assert "NOT A GPU FIGURE" in table and "fp32 b64 none" in table and "fp32 b128 all" in table
    assert ("tail: p99 over 100 rounds or more, else the max; a compute-only round on the CPU is one forward pass"
            in table and "INCOMPLETE" not in table)
    assert "per-pair averages of K replays" in gpu_throughput.table({**report, "gpu_figure": True})
    none_64, _, all_64, _ = report["cases"]  # floors per case, with the inputs as its lever set feeds them
    assert none_64["floors"]["input_bytes_per_sample"] == 468 and all_64["floors"]["input_bytes_per_sample"] == 104
    assert "fp32 b64      feed   FLOP" in table and "fp32 b64      narrow FLOP" in table
    assert ("n/a   gpu_throughput fp16_b1024_compute_samples_per_s >= 1e+07: not measured "
            "(not judged: --cpu, not a GPU figure)") in table
    assert "agreement with ONNX Runtime FP32: every case" in table
    assert "agreement with the TF original: not checked: no saved TF-original probabilities" in table
    out = capsys.readouterr().out
    assert table in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["passed"] is True and summary["misses"] == [] and summary["cpu_flags"] == cpu_flags()


def test_the_json_is_rewritten_after_every_case_so_a_crash_keeps_the_figures_so_far(monkeypatch, converted_onnx,
                                                                                   smoke_csv, tmp_path):
    json_path = tmp_path / "gpu.json"
    seen = []
    real_write = gpu_throughput._write

    def write(path, report):
        seen.append(json.loads(json.dumps(report)))
        return real_write(path, report)

    monkeypatch.setattr(gpu_throughput, "_write", write)
    measure_case = gpu_throughput.measure_case

    def crash_on_the_second(runner, batch, *args):
        if batch == 128:
            raise KeyboardInterrupt  # what no case catches: the run dies here
        return measure_case(runner, batch, *args)

    monkeypatch.setattr(gpu_throughput, "measure_case", crash_on_the_second)
    assert gpu_command(*_smoke_argv(converted_onnx, smoke_csv, json_path)) == 1  # "interrupted"
    left = json.loads(json_path.read_text())
    assert left["complete"] is False and [c["batch"] for c in left["cases"]] == [64] and "targets" not in left
    assert left["cases"][0]["compute"]["samples_per_s"] > 0
    assert left["device"] == "cpu" and left["gpu_figure"] is False  # the device facts, not only at the end
    partial = json_path.with_suffix(".txt").read_text()
    assert "INCOMPLETE: 1 of 2 cases so far" in partial and "NOT A GPU FIGURE" in partial
    # written once the runner is active (no case yet, its device known), then after the case
    assert [(len(report["cases"]), report["device"], report["gpu_figure"]) for report in seen] == [
        (0, "cpu", False), (1, "cpu", False)]
    before_any_runner = gpu_throughput.table({**seen[0], "device": None, "gpu_figure": None})
    assert "on (no runner active yet)" in before_any_runner and "NOT A GPU FIGURE" not in before_any_runner


def test_a_case_that_raises_is_recorded_with_its_traceback_and_fails_the_run_and_the_next_case_still_runs(
        monkeypatch, converted_onnx, smoke_csv, tmp_path, capsys):
    measure_case = gpu_throughput.measure_case

    def fail_at_64(runner, batch, *args):
        if batch == 64:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied\nmore")
        return measure_case(runner, batch, *args)

    monkeypatch.setattr(gpu_throughput, "measure_case", fail_at_64)
    json_path = tmp_path / "gpu.json"
    assert gpu_command(*_smoke_argv(converted_onnx, smoke_csv, json_path)) == 1
    report = json.loads(json_path.read_text())
    assert report["complete"] is True and "stopped" not in report
    failed = report["cases"][0]
    assert failed | {"traceback": None} == {"precision": "fp32", "batch": 64, "levers": "none", "traceback": None,
                                            "error": "measuring: RuntimeError: mat1 and mat2 shapes cannot be "
                                                     "multiplied"}
    assert failed["traceback"].startswith("Traceback (most recent call last)")
    assert "in fail_at_64" in failed["traceback"]
    assert report["cases"][1]["compute"]["samples_per_s"] > 0
    assert "FAILED fp32 b64 none: measuring: RuntimeError" in json_path.with_suffix(".txt").read_text()
    err = capsys.readouterr().err
    assert err.count("Traceback (most recent call last)") == 1 and 'in fail_at_64\n    raise RuntimeError(' in err
    assert "fp32 b64 none: FAILED while measuring: RuntimeError: mat1 and mat2 shapes" in err


def test_a_fatal_cuda_error_stops_the_run_records_the_cases_left_as_not_run_and_fails_it(
        monkeypatch, converted_onnx, smoke_csv, tmp_path, capsys):
    def illegal_access(runner, batch, *args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be ...")

    monkeypatch.setattr(gpu_throughput, "measure_case", illegal_access)
    json_path = tmp_path / "gpu.json"
    assert gpu_command(*_smoke_argv(converted_onnx, smoke_csv, json_path, levers=("none", "all"))) == 1
    report = json.loads(json_path.read_text())
    assert report["complete"] is False and report["stopped"].startswith(
        "a fatal CUDA error in fp32 b64 none (measuring: RuntimeError: CUDA error: an illegal memory access was "
        "encountered): the CUDA context is unusable for the rest of the process; the 3 cases left were not run")
    first, *left = report["cases"]
    assert first["error"].startswith("measuring: RuntimeError: CUDA error")
    assert [(c["levers"], c["batch"], c["not_run"]) for c in left] == [
        (levers, batch, "stopped by a fatal CUDA error in fp32 b64 none")
        for levers, batch in (("none", 128), ("all", 64), ("all", 128))]
    assert {t["met"] for t in report["targets"]} == {None}  # --cpu: judged n/a, but judged on what was measured
    table = json_path.with_suffix(".txt").read_text()
    assert "STOPPED after 1 of 4 cases: a fatal CUDA error" in table
    assert "NOT RUN (3): fp32 b128 none, fp32 b64 all, fp32 b128 all" in table
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["misses"][0].startswith("STOPPED: a fatal CUDA error in fp32 b64 none")
    assert len(summary["misses"]) == 2  # STOPPED, and the case that raised; not one line per case not run


@pytest.mark.parametrize("error, fatal", [
    (RuntimeError("CUDA error: an illegal memory access was encountered"), True),
    (RuntimeError("CUDA error: device-side assert triggered"), True),
    (RuntimeError("an illegal memory access was encountered"), True),
    (getattr(torch, "AcceleratorError", RuntimeError)("CUDA error: unspecified launch failure"), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
    (getattr(torch, "OutOfMemoryError", RuntimeError)("CUDA out of memory. Tried to allocate 2.00 GiB"), False),
    (ValueError("no CUDA error here, but not a torch error"), False),
])
def test_a_fatal_cuda_error_is_told_by_its_type_or_its_message(error, fatal):
    assert gpu_throughput.fatal_cuda_error(error) is fatal
    try:
        try:
            raise error
        except Exception as exc:
            raise gpu_throughput.WidedeepError("wrapped") from exc
    except gpu_throughput.WidedeepError as wrapped:
        assert gpu_throughput.fatal_cuda_error(wrapped) is fatal  # an error raised from one is one


def test_cases_run_the_baseline_first_headline_first_then_each_case_s_lever_sets_side_by_side():
    none, fused, every = frozenset(), frozenset({"fused_epilogue"}), frozenset(gpu_throughput_levers())
    order = gpu_throughput.case_order(["fp32", "fp16"], [fused, none, every], [4096, 1024])
    assert [(p, gpu_throughput.lever_label(levers), b) for p, levers, b in order] == [
        ("fp16", "none", 1024), ("fp32", "none", 4096), ("fp32", "none", 1024), ("fp16", "none", 4096),
        ("fp16", "fused_epilogue", 1024), ("fp16", "all", 1024),
        ("fp32", "fused_epilogue", 4096), ("fp32", "all", 4096),
        ("fp32", "fused_epilogue", 1024), ("fp32", "all", 1024),
        ("fp16", "fused_epilogue", 4096), ("fp16", "all", 4096)]


def gpu_throughput_levers():
    from widedeep_bench.engines.torch import LEVERS

    return LEVERS


class FakeRunner:
    """What run_cases needs of a TorchRunner, logging its life; deactivating the runner of lever set
    ``failing[0]`` raises ``RuntimeError(failing[1])``."""

    log: list = []
    failing = ("all", "cudaStreamSynchronize failed\nmore")

    def __init__(self, model, options, levers):
        self.options, self.levers, self.uses_cuda = options, levers, False
        self.name = (options.precision, gpu_throughput.lever_label(levers))

    def activate(self):
        self.log.append(("activate", self.name))

    def deactivate(self):
        self.log.append(("deactivate", self.name))
        if self.name[1] == self.failing[0]:
            raise RuntimeError(self.failing[1])

    def device_name(self):
        return "cpu"


def fake_run(monkeypatch, failing=FakeRunner.failing) -> tuple[dict, list]:
    """run_cases over fake runners (FakeRunner) for fp32, batches 64 and 128, lever sets none, f32_head and all:
    the report and the number of cases at each write."""
    import types

    import widedeep_bench.engines.torch as torch_engine

    monkeypatch.setattr(torch_engine, "TorchRunner", FakeRunner)
    monkeypatch.setattr(FakeRunner, "log", [])
    monkeypatch.setattr(FakeRunner, "failing", failing)
    monkeypatch.setattr(gpu_throughput, "references_for", lambda *args: [])
    monkeypatch.setattr(gpu_throughput, "onnxruntime_unavailable", lambda: None)
    one_batch = types.SimpleNamespace(categorical=np.zeros((26, 2), np.int64), numeric=np.zeros((1, 13), np.float32))
    rows = types.SimpleNamespace(batches=lambda batch: iter([one_batch]), source="rows", rows=1)
    gpu_inputs = gpu_throughput.GpuInputs(Path("m.onnx"), rows, "rows", None, "none")
    args = types.SimpleNamespace(precisions=["fp32"], batches=[64, 128],
                                 lever_sets=[frozenset(), frozenset({"f32_head"}), frozenset(gpu_throughput_levers())])
    report, writes = {"device": None, "gpu_figure": None, "cases": []}, []

    def measure_one(runner, batch, host, references, args):
        FakeRunner.log.append(("measure", runner.name, batch))
        return {"precision": runner.options.precision, "batch": batch, "levers": runner.name[1], "agreement": {}}

    gpu_throughput.run_cases(args, gpu_inputs, measure_one, report, lambda: writes.append(len(report["cases"])))
    return report, writes


def test_one_runner_per_precision_and_lever_set_spans_its_batches_and_a_deactivate_error_is_recorded(monkeypatch):
    report, writes = fake_run(monkeypatch)
    none, head, every = ("fp32", "none"), ("fp32", "f32_head"), ("fp32", "all")
    assert FakeRunner.log == [("activate", none), ("measure", none, 64), ("measure", none, 128), ("deactivate", none),
                              ("activate", head), ("measure", head, 64), ("activate", every), ("measure", every, 64),
                              ("measure", head, 128), ("deactivate", head), ("measure", every, 128),
                              ("deactivate", every)]
    assert writes == [0, 1, 2, 3, 4, 5, 6] and report["device"] == "cpu" and report["gpu_figure"] is False
    (error,) = report["runner_errors"]
    assert error | {"traceback": None} == {"precision": "fp32", "levers": "all", "stage": "deactivating the runner",
                                           "error": "RuntimeError: cudaStreamSynchronize failed", "traceback": None}
    assert "stopped" not in report and len(report["cases"]) == 6
    full = {"benchmark": "gpu_throughput", "targets": [{"met": True}], **report}
    assert gpu_throughput.misses(full) == ["FAIL deactivating fp32 all: RuntimeError: cudaStreamSynchronize failed"]


def test_a_fatal_cuda_error_deactivating_a_runner_stops_the_run(monkeypatch):
    report, writes = fake_run(monkeypatch, failing=("none", "CUDA error: an illegal memory access was encountered"))
    assert FakeRunner.log[-1] == ("deactivate", ("fp32", "none"))  # nothing after it, no runner left active
    assert report["stopped"].startswith("a fatal CUDA error in fp32 b128 none (deactivating the runner after it: "
                                        "RuntimeError: CUDA error: an illegal memory access was encountered)")
    assert [c.get("not_run") for c in report["cases"]] == [None, None] + ["stopped by a fatal CUDA error in "
                                                                          "fp32 b128 none"] * 4
    assert writes == [0, 1, 6]


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_on_cuda_a_profile_without_kernel_events_has_no_split_and_cupti_is_not_torn_down(monkeypatch):
    import types

    monkeypatch.delenv("TEARDOWN_CUPTI", raising=False)
    monkeypatch.delenv("DISABLE_CUPTI_LAZY_REINIT", raising=False)
    runner = types.SimpleNamespace(uses_cuda=True, infer=lambda categorical, numeric: torch.mm(numeric, numeric))
    split = gpu_throughput.time_split(runner, [(None, torch.ones(4, 4))], 2)
    assert os.environ["TEARDOWN_CUPTI"] == "0" and split["profiler_environment"]["TEARDOWN_CUPTI"] == "0"
    assert split["split_valid"] is False and split["profiled_calls"] == 2
    assert split["split_invalid_why"].startswith("torch.profiler recorded no CUDA kernel event in 2 calls")
    from torch.autograd import DeviceType

    kernel = types.SimpleNamespace(key="nvjet_hsh_128x256", device_type=DeviceType.CUDA, count=2,
                                   self_device_time_total=30.0)
    copy = types.SimpleNamespace(key="Memcpy HtoD (Pinned -> Device)", device_type=DeviceType.CUDA, count=4,
                                 self_device_time_total=8.0)
    assert gpu_throughput.split_of([copy], cuda=True, calls=2)["split_valid"] is False  # copies are no kernels
    valid = gpu_throughput.split_of([kernel, copy], cuda=True, calls=2)
    assert valid["split_valid"] is True and valid["gemms_us"] == 15.0 and valid["copies_us"] == 4.0


def test_a_case_that_disagrees_with_the_reference_fails_the_run(monkeypatch, converted_onnx, smoke_csv, tmp_path):
    monkeypatch.setattr(gpu_throughput, "reference_probabilities", lambda onnx_path, categorical, numeric:
                        np.tile(np.float32([0.5, 0.5]), (numeric.shape[0], 1)))
    json_path = tmp_path / "gpu.json"
    assert gpu_command(*_smoke_argv(converted_onnx, smoke_csv, json_path)) == 1
    table = json_path.with_suffix(".txt").read_text()
    assert "agreement with ONNX Runtime FP32: FAILED for fp32 b64 none, fp32 b128 none" in table


def test_fewer_rows_than_one_batch_is_a_clear_error(converted_onnx, smoke_csv, tmp_path, capsys):
    assert gpu_command(*_smoke_argv(converted_onnx, smoke_csv, tmp_path / "gpu.json", batches=("1024",))) == 2
    assert f"{SMOKE_ROWS} rows, fewer than one batch of 1024" in capsys.readouterr().err


def test_the_seed_figure_and_the_model_facts_are_the_suite_s():
    assert gpu_throughput.SEED_SAMPLES_PER_S == 77073.93
    assert gpu_throughput.TOWER_PARAMETERS == 845 * 1024 + 1024 + 1024 * 512 + 512 + 512 * 256 + 256 + 256 + 1
    assert gpu_throughput.INPUT_BYTES_PER_SAMPLE == layout.NUM_FIELDS * 16 + layout.NUM_NUMERIC * 4
