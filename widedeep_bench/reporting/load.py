"""The one place a saved report (``--wd-report``) or fleet (``merge --out``) is read and its shape checked.

A report of ``report_version`` 2 or 3 loads; version 3 adds ``round_seconds`` per throughput case, a
``histogram`` per parity case and ``accelerators`` in ``machine``, and readers say what a version-2 report
lacks rather than refusing it. Every refusal is one ``WidedeepError`` line naming the file and the field.
A gate's PASS or FAIL is judged again from its measured value and threshold (the rule the run used), so a
hand-edited status or a NaN is refused, never trusted. A report is not signed: edits that keep its numbers
consistent are not detected. Whether a run passed is ``report_verdict``'s one rule, for the exit code of
``report`` and every page and fleet view alike.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from widedeep_bench import gates as gate_rules
from widedeep_bench.errors import WidedeepError

REPORT_VERSIONS = (2, 3)
FLEET_VERSION = 1
UNKNOWN_MACHINE = "unknown machine"


def read_json(path: Path, what: str) -> object:
    """The JSON in ``path``; one line for a missing or unreadable file, a directory, or text that is not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except IsADirectoryError as exc:
        raise WidedeepError(f"{path}: is a directory, expected {what}") from exc
    except OSError as exc:
        raise WidedeepError(f"{path}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WidedeepError(f"{path}: not JSON ({exc}); expected {what}") from exc


def load_report(path: Path) -> dict:
    """The report in ``path``, its shape checked (``check_report``); ``report_version`` as found."""
    saved = read_json(path, "a report JSON written by --wd-report")
    check_report(saved, str(path))
    return saved


def check_report(saved: object, source: str) -> None:
    """Refuse, in one line naming ``source`` and the field, anything the readers of a report would trip on."""
    if not isinstance(saved, dict) or not isinstance(saved.get("gates"), list):
        raise WidedeepError(f"{source}: not a widedeep_bench report (no 'gates' list); write one with "
                            f"`pytest --wd-report PATH`")
    version = saved.get("report_version")
    if version not in REPORT_VERSIONS or isinstance(version, bool):
        raise WidedeepError(f"{source}: report_version {version!r} is not one this widedeep-bench reads "
                            f"(expected one of {list(REPORT_VERSIONS)})")
    problems = saved.get("problems", [])
    if not isinstance(problems, list) or not all(isinstance(problem, str) for problem in problems):
        raise WidedeepError(f"{source}: 'problems' is not a list of strings")
    gate_rows(saved, source)
    for section in ("accuracy", "parity", "throughput", "scenarios", "precision", "context", "versions"):
        if not isinstance(saved.get(section, {}), (dict, type(None))):
            raise WidedeepError(f"{source}: '{section}' is not a table (expected case -> figures)")
    for case, figures in (saved.get("throughput") or {}).items():
        _check_throughput(figures, f"{source}: throughput[{case!r}]")
    for case, figures in (saved.get("accuracy") or {}).items():
        _check_numbers(figures, ("top1", "auc"), f"{source}: accuracy[{case!r}]")
        _check_optional_numbers(figures, ("all_negative_top1", "positive_rate", "logloss"),
                                f"{source}: accuracy[{case!r}]")
    for case, figures in (saved.get("parity") or {}).items():
        _check_parity(figures, f"{source}: parity[{case!r}]")
    _check_machine(saved.get("machine"), f"{source}: machine")


def _check_parity(figures: object, field: str) -> None:
    _check_numbers(figures, ("max_abs", "atol"), field)
    _check_optional_numbers(figures, ("p99_abs", "mean_abs", "median_abs"), field)
    if "histogram" not in figures:  # version 2
        return
    histogram = figures["histogram"]
    if not isinstance(histogram, dict):
        raise WidedeepError(f"{field}.histogram: expected a table (edges, counts, zeros), got {histogram!r}")
    edges, counts = histogram.get("edges"), histogram.get("counts")
    if not (isinstance(edges, list) and all(_positive(e) for e in edges)
            and all(low < high for low, high in zip(edges, edges[1:]))):
        raise WidedeepError(f"{field}.histogram.edges: expected a list of increasing positive finite errors, got "
                            f"{edges!r}")
    if not (isinstance(counts, list) and all(_count(c) for c in counts)):
        raise WidedeepError(f"{field}.histogram.counts: expected a list of non-negative integers, got {counts!r}")
    if (edges or counts) and len(edges) != len(counts) + 1:
        raise WidedeepError(f"{field}.histogram: {len(edges)} edges for {len(counts)} counts (expected one edge "
                            f"more than counts, or both empty when no error is a finite nonzero)")
    for key in ("zeros", "nonfinite"):
        if key in histogram and not _count(histogram[key]):
            raise WidedeepError(f"{field}.histogram.{key}: expected a non-negative integer, got {histogram[key]!r}")


def _check_machine(machine: object, field: str) -> None:
    """Its accelerators, where recorded, a list of tables. A machine that is not a table is shown as unknown
    (``machine_of``): it names no figure, so it is no reason to refuse the report."""
    if not isinstance(machine, dict):
        return
    for key in ("cpu_flags", "accelerator_problems"):
        if machine.get(key) is not None and not _strings(machine[key]):
            raise WidedeepError(f"{field}.{key}: expected a list of strings, got {machine[key]!r}")
    accelerators = machine.get("accelerators")
    if accelerators is None:  # version 2
        return
    if not isinstance(accelerators, list):
        raise WidedeepError(f"{field}.accelerators: expected a list, got {accelerators!r}")
    for index, accelerator in enumerate(accelerators):
        if not (isinstance(accelerator, dict) and all(isinstance(accelerator.get(k), str) for k in ("name", "driver"))
                and isinstance(accelerator.get("source", ""), str)
                and (accelerator.get("memory_mib") is None or _count(accelerator["memory_mib"]))):
            raise WidedeepError(f"{field}.accelerators[{index}]: expected a table of string name, driver and source "
                                f"and integer memory_mib or null, got {accelerator!r}")


def _check_throughput(figures: object, field: str) -> None:
    _check_numbers(figures, ("samples_per_s", "batch_size"), field)
    for key in ("samples_per_s", "batch_size"):
        if not _positive(figures[key]):
            raise WidedeepError(f"{field}.{key}: expected a positive number, got {figures[key]!r}")
    _check_optional_numbers(figures, ("median_ms", "tail_ms"), field)
    ratio = figures.get("ratio_vs_tensorflow")
    if ratio is not None and not (isinstance(ratio, dict) and _number(ratio.get("ratio"))):
        raise WidedeepError(f"{field}.ratio_vs_tensorflow: expected a table with a number 'ratio' or null")
    rounds = figures.get("round_seconds")
    if rounds is not None and not (isinstance(rounds, list) and rounds and all(_positive(r) for r in rounds)):
        raise WidedeepError(f"{field}.round_seconds: expected a non-empty list of positive seconds")


def _check_numbers(figures: object, keys: tuple[str, ...], field: str) -> None:
    if not isinstance(figures, dict):
        raise WidedeepError(f"{field}: expected a table of figures, got {type(figures).__name__}")
    for key in keys:
        if not _number(figures.get(key)):
            raise WidedeepError(f"{field}.{key}: expected a number, got {figures.get(key)!r}")


def _check_optional_numbers(figures: dict, keys: tuple[str, ...], field: str) -> None:
    for key in keys:
        if figures.get(key) is not None and not _number(figures[key]):
            raise WidedeepError(f"{field}.{key}: expected a number or null, got {figures[key]!r}")


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _number(value: object) -> bool:
    """A JSON number; NaN included (an AUC over rows of one class is undefined, and reported as such)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: object) -> bool:
    return _number(value) and math.isfinite(value) and value > 0


def gate_rows(saved: dict, source: str) -> list[gate_rules.GateRow]:
    """The report's gates as ``GateRow``s, each PASS or FAIL judged again from its own numbers."""
    rows = []
    for index, item in enumerate(saved["gates"]):
        try:
            rows.append(_gate_row(item))
        except (KeyError, TypeError, ValueError) as exc:
            raise WidedeepError(f"{source}: gates[{index}] is not a gate of a report ({exc!r})") from exc
    return rows


def report_verdict(saved: dict, source: str) -> tuple[bool, list[str]]:
    """Whether the saved run passed, and each reason it did not: a gate FAIL or NOT RUN (each judged again by
    ``gate_rows``), no gate evaluated, a problem listed, or ``passed`` not true. The one rule applied by
    ``report``'s exit code, the report's pages and the fleet's views (a hand-edited ``passed`` passes nothing)."""
    rows = gate_rows(saved, source)
    failed = [row.name for row in rows if row.status == gate_rules.FAIL]
    not_run = [row.name for row in rows if row.status == gate_rules.NOT_RUN]
    problems = saved.get("problems", [])
    reasons = []
    if failed:
        reasons.append(f"{len(failed)} gate(s) failed: {failed}")
    if not_run:
        reasons.append(f"{len(not_run)} gate(s) did not run: {not_run}")
    if not any(row.result is not None for row in rows):
        reasons.append("no gate was evaluated: the run measured nothing it could accept")
    if saved.get("passed") is not True or problems:
        reasons.append("the run itself did not pass: " + ("; ".join(problems) or "passed is not true"))
    return not reasons, reasons


def _gate_row(item: dict) -> gate_rules.GateRow:
    status, name, why = item["status"], item["name"], item.get("why", "")
    if not isinstance(name, str) or not isinstance(why, str):
        raise TypeError("name and why must be strings")
    result = None
    if status in (gate_rules.PASS, gate_rules.FAIL):
        result = _rejudged(item)
        if result.passed != (status == gate_rules.PASS) or result.passed != item["passed"]:
            raise ValueError(f"status {status} and passed={item['passed']!r} contradict its numbers: "
                             f"{result.measured:g} {result.op} {result.threshold:g} is {result.passed}")
    elif status not in (gate_rules.NOT_RUN, gate_rules.DESELECTED, gate_rules.NOT_APPLICABLE):
        raise ValueError(f"unknown status {status!r}")
    return gate_rules.GateRow(name, status, result, why)


def _rejudged(item: dict) -> gate_rules.GateResult:
    """The gate judged again by the rule the run used (scoring is separate from running)."""
    numbers = [item["measured"], item["threshold"]]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        raise TypeError(f"measured and threshold must be numbers, got {numbers!r}")
    if not all(isinstance(item[k], str) for k in ("unit", "method")):
        raise TypeError("unit and method must be strings")
    return gate_rules.evaluate(item["name"], item["measured"], item["op"], item["threshold"], unit=item["unit"],
                               method=item["method"])


def case_order(case: str) -> tuple[str, int]:
    """Sort key of a perf case: "onnxruntime-fp32/b1024" by engine, then batch size as a number."""
    engine, _, batch = case.rpartition("/b")
    return (engine, int(batch)) if batch.isdigit() else (case, 0)


def machine_of(saved: dict) -> dict:
    """The report's machine record, or {} where it has none (a hand-edited or damaged field shows as unknown)."""
    machine = saved.get("machine")
    return machine if isinstance(machine, dict) else {}


def machine_label(machine: object) -> str:
    """A person's name for a machine: "CPU model / hostname" (what differs between CI hosts of one type)."""
    if not isinstance(machine, dict):
        return UNKNOWN_MACHINE
    parts = [str(machine[key]) for key in ("cpu", "hostname") if machine.get(key)]
    return " / ".join(parts) or UNKNOWN_MACHINE


def load_fleet(path: Path) -> dict:
    """The fleet in ``path`` (written by ``merge``): version checked, each member's report checked as a report."""
    fleet = read_json(path, "a fleet JSON written by `widedeep-bench merge`")
    if not isinstance(fleet, dict) or fleet.get("fleet_version") != FLEET_VERSION:
        raise WidedeepError(f"{path}: not a fleet of fleet_version {FLEET_VERSION} (write one with "
                            f"`widedeep-bench merge R1.json R2.json --out FLEET.json`)")
    members = fleet.get("members")
    if not isinstance(members, list) or not members:
        raise WidedeepError(f"{path}: members: expected a non-empty list")
    for index, member in enumerate(members):
        if not isinstance(member, dict) or not isinstance(member.get("label"), str):
            raise WidedeepError(f"{path}: members[{index}]: expected a table with a string 'label'")
        check_report(member.get("report"), f"{path}: members[{index}].report")
    return fleet
