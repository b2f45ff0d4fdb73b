"""Two runs compared: throughput with a verdict that knows the noise, accuracy, parity, and gates that flipped.

Throughput, per case in both reports: samples/s of each timed round (batch / ``round_seconds[i]``), their
median for display, and a verdict from one rule (``_throughput_change``). Real rounds are not independent
draws: the machine's load drifts during a run, so with hundreds of rounds a test on single rounds finds any
drift "significant" (two halves of one real run differed at p < 0.001). So each run's rounds, in timing
order, are cut into consecutive blocks (up to ``MAX_BLOCKS``, at least ``ROUNDS_PER_BLOCK`` rounds each)
and the block medians are the samples: slow drift within a run becomes spread between blocks, which the
test sees as noise. The test is one-sided Mann-Whitney U (``scipy.stats.mannwhitneyu``) at ``alpha``, and it
is made against the threshold, not against zero:

- "slower, significant": the new blocks are below the base's blocks scaled by ``1 - max_regression``;
- "slower, within threshold": below the base's blocks, but not below the scaled ones;
- "faster, significant" / "faster, within threshold": the same upward, scaled by ``1 + max_regression``;
- "within noise": neither direction is significant;
- "no rounds recorded: ...": a report (version 2) lacks ``round_seconds``: medians only, no noise test;
- "too few rounds ...": so few blocks that no ordering of them reaches p < alpha.

A comparison fails (exit 1 in ``compare``) when a case under test is "slower, significant", or a gate that
passed in the base failed or did not run in the new run (a check that no longer ran is a check lost). A
reference case (``is_reference``: the TF original and the null runner, at any precision) is shown with its
verdict but never fails it: it measures the machine and the harness, not the engine under test. A
median-only case never fails it: without rounds a change cannot be told from noise, and the verdict says
so. A gate that appears or is deselected is shown, not failed: the profile chose it, and ``report`` on the
new run judges the new run's own gates. Cases and gates of the base that the new run lacks do not fail it
either, but are named (``missing_cases``, ``missing_gates``) so that a run that measured less is not read
as a clean pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from widedeep_bench import gates as gate_rules
from widedeep_bench.errors import WidedeepError
from widedeep_bench.reporting.load import case_order, machine_label, machine_of
from widedeep_bench.suite.engines import OVERHEAD_RUNNER, REFERENCE_RUNNER

SLOWER, SLOWER_WITHIN = "slower, significant", "slower, within threshold"
FASTER, FASTER_WITHIN = "faster, significant", "faster, within threshold"
NOISE = "within noise"
NO_ROUNDS = "no rounds recorded: compared by median only, no noise test"
TOO_FEW = "too few rounds for the noise test"
ONLY_BASE, ONLY_NEW = "only in base", "only in new"
# What tells two machines apart for a timing; python and versions are shown as software changes instead.
MACHINE_FIELDS = ("cpu", "cpu_flags", "logical_cpus", "accelerators", "machine", "platform", "hostname")
LOST = (gate_rules.FAIL, gate_rules.NOT_RUN)
MAX_BLOCKS = 10  # block medians per run: the samples of the noise test
ROUNDS_PER_BLOCK = 3  # the fewest rounds a block's median is taken over


def parse_fraction(text: str, option: str) -> float:
    """``"5%"`` or ``"0.05"`` -> 0.05; a fraction in [0, 1), else one line naming ``option``."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise WidedeepError(f"{option} {text!r}: expected a fraction in [0, 1) such as 5% or 0.05")
    return value


def is_reference(case: dict) -> bool:
    """A throughput case (``{"backend": ..., "precision": ...}``) of the TF original or the null runner, at
    any precision: it measures the machine and the harness, not an engine under test."""
    return case.get("backend") in (REFERENCE_RUNNER, OVERHEAD_RUNNER)


@dataclass(frozen=True)
class ThroughputChange:
    """One perf case: median samples/s in each run, the one-sided p-values on block medians and the verdict."""

    case: str
    base: float | None  # median samples/s of all rounds
    new: float | None
    verdict: str
    p_slower: float | None = None  # Mann-Whitney U, new block medians less than the base's
    p_faster: float | None = None
    p_slower_beyond: float | None = None  # ... less than the base's times (1 - max_regression)
    p_faster_beyond: float | None = None  # ... greater than the base's times (1 + max_regression)
    reference: bool = False  # the TF original or the null runner: shown, never a regression

    @property
    def change(self) -> float | None:
        """new / base - 1 (-0.2 = 20% fewer samples/s)."""
        return None if self.base is None or self.new is None else self.new / self.base - 1

    @property
    def regression(self) -> bool:
        return self.verdict == SLOWER and not self.reference


@dataclass(frozen=True)
class FigureChange:
    case: str
    figure: str  # "Top-1", "AUC", "max |a-b|"
    base: float
    new: float

    @property
    def delta(self) -> float:
        return self.new - self.base


@dataclass(frozen=True)
class GateFlip:
    name: str
    base: str | None  # status, None where the gate is absent
    new: str | None

    @property
    def lost(self) -> bool:
        """A gate that passed in the base and failed or did not run in the new run."""
        return self.base == gate_rules.PASS and self.new in LOST


@dataclass(frozen=True)
class Comparison:
    base_source: str
    new_source: str
    base_machine: str
    new_machine: str
    max_regression: float
    alpha: float
    throughput: list[ThroughputChange]
    accuracy: list[FigureChange]
    parity: list[FigureChange]
    gates: list[GateFlip]
    machine_differences: list[str]  # "cpu_flags (+avx512f)", "hostname"
    version_changes: list[str]  # "onnxruntime 1.17.1 -> 1.18.0"
    notes: list[str]  # what a version-2 report lacks

    @property
    def regressions(self) -> list[str]:
        return [change.case for change in self.throughput if change.regression]

    @property
    def lost_gates(self) -> list[str]:
        return [flip.name for flip in self.gates if flip.lost]

    @property
    def missing_cases(self) -> list[str]:
        """Perf cases the base timed and the new run did not: not a failure, never silent."""
        return [change.case for change in self.throughput if change.verdict == ONLY_BASE]

    @property
    def missing_gates(self) -> list[str]:
        return [flip.name for flip in self.gates if flip.base is not None and flip.new is None]

    @property
    def passed(self) -> bool:
        return not self.regressions and not self.lost_gates

    def summary(self) -> dict:
        """The command's JSON line."""
        return {"passed": self.passed, "regressions": self.regressions, "lost_gates": self.lost_gates,
                "missing_cases": self.missing_cases, "missing_gates": self.missing_gates,
                "machine_differences": self.machine_differences, "max_regression": self.max_regression,
                "alpha": self.alpha, "throughput": [{**asdict(c), "change": c.change} for c in self.throughput],
                "gate_flips": [asdict(flip) for flip in self.gates]}


def compare_reports(base: dict, new: dict, *, base_source: str, new_source: str, max_regression: float = 0.05,
                    alpha: float = 0.01) -> Comparison:
    """``base`` and ``new``: reports as ``load_report`` returns them."""
    base_machine, new_machine = machine_of(base), machine_of(new)
    return Comparison(
        base_source, new_source, machine_label(base_machine), machine_label(new_machine), max_regression, alpha,
        throughput=throughput_changes(base.get("throughput") or {}, new.get("throughput") or {},
                                      max_regression=max_regression, alpha=alpha),
        accuracy=_figure_changes(base.get("accuracy") or {}, new.get("accuracy") or {},
                                 {"top1": "Top-1", "auc": "AUC"}),
        parity=_figure_changes(base.get("parity") or {}, new.get("parity") or {}, {"max_abs": "max |a-b|"}),
        gates=gate_flips(base["gates"], new["gates"]),
        machine_differences=machine_differences(base_machine, new_machine),
        version_changes=_version_changes(base.get("versions") or {}, new.get("versions") or {}),
        notes=[f"{source}: report_version 2 records no round_seconds; its throughput is compared by median only"
               for source, saved in ((base_source, base), (new_source, new)) if saved["report_version"] < 3])


def throughput_changes(base: dict, new: dict, *, max_regression: float, alpha: float) -> list[ThroughputChange]:
    changes = []
    for case in sorted(base.keys() | new.keys(), key=case_order):
        if case not in new or case not in base:
            present = base.get(case) or new[case]
            only = ONLY_BASE if case in base else ONLY_NEW
            median = present["samples_per_s"]
            changes.append(ThroughputChange(case, median if case in base else None,
                                            median if case in new else None, only, reference=is_reference(present)))
            continue
        changes.append(_throughput_change(case, base[case], new[case], max_regression, alpha))
    return changes


def round_samples_per_s(figures: dict) -> np.ndarray | None:
    """samples/s of every timed round (batch / round seconds), or None where the report has no rounds."""
    rounds = figures.get("round_seconds")
    return None if not rounds else figures["batch_size"] / np.asarray(rounds, dtype=float)


def block_medians(samples_per_s: np.ndarray) -> np.ndarray:
    """The medians of consecutive blocks of the rounds, in timing order: ``MAX_BLOCKS`` blocks, fewer so that
    each holds at least ``ROUNDS_PER_BLOCK`` rounds (one block below that)."""
    blocks = max(1, min(MAX_BLOCKS, samples_per_s.size // ROUNDS_PER_BLOCK))
    return np.array([np.median(block) for block in np.array_split(samples_per_s, blocks)])


def _throughput_change(case: str, base: dict, new: dict, max_regression: float, alpha: float) -> ThroughputChange:
    from scipy.stats import mannwhitneyu

    reference = is_reference(base)
    base_rounds, new_rounds = round_samples_per_s(base), round_samples_per_s(new)
    if base_rounds is None or new_rounds is None:
        return ThroughputChange(case, base["samples_per_s"], new["samples_per_s"], NO_ROUNDS, reference=reference)
    base_median, new_median = float(np.median(base_rounds)), float(np.median(new_rounds))
    base_blocks, new_blocks = block_medians(base_rounds), block_medians(new_rounds)
    if 1 / math.comb(base_blocks.size + new_blocks.size, base_blocks.size) >= alpha:
        # even a complete separation of the two runs' blocks would not reach p < alpha
        return ThroughputChange(case, base_median, new_median,
                                f"{TOO_FEW} ({base_rounds.size} and {new_rounds.size} rounds, {base_blocks.size} "
                                f"and {new_blocks.size} blocks at alpha {alpha:g})", reference=reference)

    def p(scale: float, alternative: str) -> float:
        return float(mannwhitneyu(new_blocks, base_blocks * scale, alternative=alternative).pvalue)

    p_slower, p_faster = p(1, "less"), p(1, "greater")
    p_slower_beyond, p_faster_beyond = p(1 - max_regression, "less"), p(1 + max_regression, "greater")
    if p_slower < alpha:
        verdict = SLOWER if p_slower_beyond < alpha else SLOWER_WITHIN
    elif p_faster < alpha:
        verdict = FASTER if p_faster_beyond < alpha else FASTER_WITHIN
    else:
        verdict = NOISE
    return ThroughputChange(case, base_median, new_median, verdict, p_slower, p_faster, p_slower_beyond,
                            p_faster_beyond, reference)


def _figure_changes(base: dict, new: dict, figures: dict[str, str]) -> list[FigureChange]:
    return [FigureChange(case, label, base[case][key], new[case][key])
            for case in sorted(base.keys() & new.keys()) for key, label in figures.items()]


def gate_flips(base_gates: list[dict], new_gates: list[dict]) -> list[GateFlip]:
    """Every gate whose status differs between the runs (absent on one side included), in the base's order."""
    base = {gate["name"]: gate["status"] for gate in base_gates}
    new = {gate["name"]: gate["status"] for gate in new_gates}
    names = list(base) + [name for name in new if name not in base]
    return [GateFlip(name, base.get(name), new.get(name)) for name in names if base.get(name) != new.get(name)]


def machine_differences(base: dict, new: dict) -> list[str]:
    """The machine fields recorded in both reports that differ; the CPU flags with what was added/removed."""
    differing = []
    for field in MACHINE_FIELDS:
        if field not in base or field not in new or base[field] == new[field]:
            continue
        if field == "cpu_flags" and isinstance(base[field], list) and isinstance(new[field], list):
            added, removed = sorted(set(new[field]) - set(base[field])), sorted(set(base[field]) - set(new[field]))
            if not added and not removed:
                continue
            differing.append(f"cpu_flags ({' '.join(['+' + f for f in added] + ['-' + f for f in removed])})")
        else:
            differing.append(field)
    return differing


def _version_changes(base: dict, new: dict) -> list[str]:
    return [f"{package} {base.get(package) or 'absent'} -> {new.get(package) or 'absent'}"
            for package in sorted(base.keys() | new.keys()) if base.get(package) != new.get(package)]
