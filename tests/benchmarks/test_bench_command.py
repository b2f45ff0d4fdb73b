"""``widedeep-bench bench``: one command, a sub-command per benchmark, the CLI's flags and exit codes."""

from __future__ import annotations

import pytest

from widedeep_bench.__main__ import build_parser
from widedeep_bench.bench import engine_throughput, gpu_throughput, paired_ratio, preprocess_speed
from widedeep_bench.commands.bench import timing_plan
from widedeep_bench.measure import TimingPlan

BENCHMARKS = {"preprocess": preprocess_speed, "engines": engine_throughput, "paired-ratio": paired_ratio,
              "gpu": gpu_throughput}


@pytest.mark.parametrize("argv", [["bench", "engines", "-q"], ["bench", "-q", "engines"], ["-q", "bench", "engines"],
                                  ["bench", "engines", "--quiet"]])
def test_quiet_is_accepted_before_or_after_the_benchmark(argv):
    assert build_parser().parse_args(argv).quiet is True


def test_without_quiet_the_run_is_not_quiet():
    assert build_parser().parse_args(["bench", "engines"]).quiet is False


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_each_benchmark_is_a_sub_command_that_names_itself_in_errors(name):
    args = build_parser().parse_args(["bench", name])
    assert args.command == f"bench {name}" and callable(args.run)


def test_bench_needs_a_benchmark(capsys):
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["bench"])
    assert raised.value.code == 2 and "BENCHMARK" in capsys.readouterr().err


def test_options_are_not_abbreviated_and_unknown_ones_are_refused(bench_command, capsys):
    assert bench_command("engines", "--bat", "64") == 2
    assert "unrecognized arguments: --bat 64" in capsys.readouterr().err


@pytest.mark.parametrize("name, plan", [("preprocess", preprocess_speed.DEFAULT_PLAN),
                                        ("engines", engine_throughput.DEFAULT_PLAN),
                                        ("paired-ratio", paired_ratio.DEFAULT_PLAN)])
def test_the_timing_options_default_to_the_benchmark_s_plan(name, plan):
    assert timing_plan(build_parser().parse_args(["bench", name])) == plan


def test_the_timing_options_make_the_plan():
    args = build_parser().parse_args(["bench", "engines", "--rounds", "7", "--duration", "0", "--warmup", "1",
                                      "--warmup-s", "0.5"])
    assert timing_plan(args) == TimingPlan(warmup_s=0.5, min_warmup_rounds=1, min_rounds=7, min_duration_s=0.0)


@pytest.mark.parametrize("argv, words", [(["--rounds", "0"], "1 <= min_rounds"),
                                         (["--duration", "nan"], "min_duration_s must be a finite number"),
                                         (["--warmup-s", "-1"], "warmup_s must be a finite number >= 0")])
def test_a_plan_the_timing_module_refuses_is_a_usage_error(bench_command, capsys, argv, words):
    assert bench_command("engines", *argv) == 2
    err = capsys.readouterr().err
    assert "widedeep-bench bench engines: error: --rounds, --warmup, --duration, --warmup-s: " in err and words in err


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_a_json_path_that_cannot_be_written_is_refused_before_measuring(bench_command, capsys, tmp_path, name,
                                                                        monkeypatch):
    module = BENCHMARKS[name]
    monkeypatch.setattr(module, "run", lambda args: pytest.fail("measured before checking --json"))
    assert bench_command(name, "--json", str(tmp_path), *(["--cpu"] if name == "gpu" else [])) == 2
    assert f"--json {tmp_path}: is a directory" in capsys.readouterr().err
    not_ours = tmp_path / "notes.json"
    not_ours.write_text('{"mine": true}')
    assert bench_command(name, "--json", str(not_ours), *(["--cpu"] if name == "gpu" else [])) == 2
    assert "exists and is not a benchmark JSON; refusing to replace it" in capsys.readouterr().err
    assert not_ours.read_text() == '{"mine": true}'


def test_an_earlier_benchmark_json_is_removed_before_a_run_that_then_fails(bench_command, tmp_path, monkeypatch):
    earlier = tmp_path / "engine_throughput.json"
    earlier.write_text('{"benchmark": "engine_throughput", "passed": true}')

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine_throughput, "run", interrupted)
    assert bench_command("engines", "--json", str(earlier)) == 1
    assert not earlier.exists()
