"""A benchmark's targets: the ``[[target]]`` tables of a profile, each judged on one measured figure.

A target is judged by ``BenchmarkTarget.met_by`` (bounds inclusive); a figure that was not measured never
meets its target; a target a run does not judge (a CPU smoke run of a GPU benchmark) is recorded with
``met`` None and the reason, and neither passes nor fails the run.
"""

from __future__ import annotations

from typing import Callable

from widedeep_bench.errors import WidedeepError

DEFAULT_PROFILE = "cpu-default"


def profile_targets(name_or_path: str, benchmark: str, *, measures: Callable[[str], bool] = lambda metric: True,
                    metrics: str = "") -> tuple[str, list]:
    """``(profile source, [BenchmarkTarget, ...])``: the profile's targets for ``benchmark``. A profile with
    none for it is an error: a benchmark judged by nothing would exit 0 having checked nothing; so is a target
    whose metric ``measures`` says the benchmark does not produce (``metrics``: what it does, in words)."""
    from widedeep_bench.profiles import load_profile

    profile = load_profile(name_or_path)
    targets = profile.targets_for(benchmark)
    if not targets:
        raise WidedeepError(f"profile {profile.source}: no [[target]] with benchmark = {benchmark!r}; "
                            f"this command has nothing to judge its figures by")
    unknown = sorted({target.metric for target in targets if not measures(target.metric)})
    if unknown:
        raise WidedeepError(f"profile {profile.source}: [[target]] metrics {unknown} are not measured by "
                            f"{benchmark}; {metrics}")
    return profile.source, targets


def judged(target, measured: float | None) -> dict:
    """One target's verdict as recorded: ``met`` by ``BenchmarkTarget.met_by``, and never when the figure was
    not measured (``measured`` None: a target never passes unmeasured)."""
    return {"metric": target.metric, "measured": measured, "min": target.min, "max": target.max,
            "met": measured is not None and target.met_by(measured), "target": str(target), "why": target.why}


def not_applicable(target, measured: float | None, reason: str) -> dict:
    """A target this run does not judge, ``reason`` saying why (e.g. a CPU smoke run of a GPU benchmark):
    recorded as ``judged`` records it but with ``met`` None, which neither passes nor fails the run."""
    return {**judged(target, measured), "met": None, "not_applicable": reason}


def missed(verdicts: list[dict]) -> list[str]:
    """What keeps these verdicts from passing a run: each target missed (``met`` False; n/a is not missed),
    or, when there are none, that nothing judged the run (a run judged by nothing has checked nothing)."""
    if not verdicts:
        return ["no [[target]] judged the figures"]
    return [f"MISS {v['target']}" for v in verdicts if v["met"] is False]


def verdict_lines(verdicts: list[dict]) -> list[str]:
    """``PASS  engine_throughput ort_fp32_over_tf >= 1.25: 1.31`` (or ``MISS``, or ``n/a`` with the reason)
    and the target's why under it."""
    lines = []
    for v in verdicts:
        measured = "not measured" if v["measured"] is None else _figure(v["measured"])
        if v["met"] is None:
            measured += f" (not judged: {v['not_applicable']})"
        verdict = {True: "PASS", False: "MISS", None: "n/a "}[v["met"]]
        lines += [f"{verdict}  {v['target']}: {measured}", f"      why: {v['why']}"]
    return lines


def _figure(value: float) -> str:
    """Ratios and seconds to 4 significant digits; large counts (samples/s) whole, with thousands separators."""
    return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"
