"""Reports, fleets and comparisons as GitHub-flavoured markdown tables (for ``$GITHUB_STEP_SUMMARY``,
GitLab job reports, a pull request comment): the gate table first, then the figures behind it."""

from __future__ import annotations

from widedeep_bench import gates as gate_rules
from widedeep_bench.reporting.fleet import fleet_rows
from widedeep_bench.reporting.load import case_order, gate_rows, machine_label, machine_of, report_verdict
from widedeep_bench.suite.results import scenario_lines

MACHINE_ROWS = (("cpu", "CPU"), ("cpu_flags", "CPU flags"), ("logical_cpus", "logical CPUs"),
                ("machine", "architecture"), ("platform", "platform"), ("hostname", "host"), ("python", "Python"))


def table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    """A markdown table; ``|`` and newlines in a cell are escaped so that a gate's words cannot break it."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows] + [""]


def report_markdown(report: dict) -> str:
    """One report: verdict, gates, throughput, accuracy vs the all-negative baseline, parity, scenarios, environment."""
    rows = gate_rows(report, "report")
    passed, _ = report_verdict(report, "report")
    lines = [f"# widedeep-bench report: {'PASSED' if passed else 'FAILED'}", "",
             f"{machine_label(machine_of(report))}, created {report.get('created', '?')}, "
             f"commit {report.get('git_commit') or '?'}, report_version {report['report_version']}", ""]
    for section in (_gates(rows, report.get("problems", [])), _throughput(report), _accuracy(report),
                    _parity(report), _scenarios(report), _environment(report)):
        lines += section
    return "\n".join(lines)


def _gates(rows: list[gate_rules.GateRow], problems: list[str]) -> list[str]:
    counts = ", ".join(f"{sum(r.status == s for r in rows)} {s}" for s in
                       (gate_rules.PASS, gate_rules.FAIL, gate_rules.NOT_RUN, gate_rules.DESELECTED,
                        gate_rules.NOT_APPLICABLE) if any(r.status == s for r in rows))
    lines = [f"## Gates ({counts or 'none'})", ""]
    lines += [f"**Run fails:** {problem}" for problem in problems] + ([""] if problems else [])
    return lines + table(("Result", "Gate", "Measured", "Threshold", "Unit", "Method or why"), [
        (f"**{row.status}**" if row.status in (gate_rules.FAIL, gate_rules.NOT_RUN) else row.status, row.name,
         f"{row.result.measured:.6g}" if row.result else "-",
         f"{row.result.op} {row.result.threshold:.6g}" if row.result else "-",
         row.result.unit if row.result else "", row.result.method if row.result else row.why) for row in rows])


def _throughput(report: dict) -> list[str]:
    throughput = report.get("throughput") or {}
    if not throughput:
        return ["## Throughput", "", "No perf case ran.", ""]
    rows = []
    for case in sorted(throughput, key=case_order):
        t = throughput[case]
        ratio = t.get("ratio_vs_tensorflow")
        rows.append((case, f"{t['samples_per_s']:,.0f}", _ms(t.get("median_ms")),
                     f"{t.get('tail_statistic', 'tail')} {_ms(t.get('tail_ms'))}", t.get("rounds", "-"),
                     f"x{ratio['ratio']:.3f}" if ratio else "-",
                     "yes" if t.get("round_seconds") else "no"))
    return ["## Throughput", "", "samples/s = batch / median round; warm-up excluded; ratio paired with the TF "
            "original in alternate rounds.", ""] + table(
        ("Case", "samples/s", "median ms", "tail ms", "rounds", "vs TF original", "rounds recorded"), rows)


def _ms(value: object) -> str:
    return "-" if value is None else f"{value:.3f}"


def _accuracy(report: dict) -> list[str]:
    accuracy = report.get("accuracy") or {}
    if not accuracy:
        return []
    rows = []
    for case, m in sorted(accuracy.items()):
        baseline = m.get("all_negative_top1")
        if baseline is None and m.get("positive_rate") is not None:
            baseline = 1 - m["positive_rate"]
        rows.append((case, f"{m['top1']:.5f}", "-" if baseline is None else f"{baseline:.5f}",
                     "-" if baseline is None else f"{m['top1'] - baseline:+.5f}", f"{m['auc']:.5f}",
                     "-" if m.get("logloss") is None else f"{m['logloss']:.5f}", m.get("rows", "-")))
    return ["## Accuracy against the all-negative baseline", "",
            "The all-negative baseline predicts no click for every row: its Top-1 is 1 - positive rate, its AUC 0.5.",
            ""] + table(("Engine", "Top-1", "all-negative Top-1", "Top-1 over baseline", "AUC", "log loss", "rows"),
                        rows)


def _parity(report: dict) -> list[str]:
    parity = report.get("parity") or {}
    if not parity:
        return []
    rows = [(case, f"{p['max_abs']:.3g}", _figure(p.get("p99_abs")), _figure(p.get("atol")),
             f"{p.get('failing', '-')} of {p.get('elements', '-')}", "PASS" if p.get("passed") else "**FAIL**")
            for case, p in sorted(parity.items())]
    return ["## Parity", ""] + table(("Case", "max abs error", "p99 abs error", "atol", "failing", "result"), rows)


def _figure(value: object) -> str:
    return "-" if value is None else f"{value:.3g}"


def _scenarios(report: dict) -> list[str]:
    scenarios = report.get("scenarios") or {}
    if not scenarios:
        return []
    return ["## Scenarios (MLPerf LoadGen)", ""] + table(
        ("Case", "Result"), [(case, "<br>".join(scenario_lines(s))) for case, s in sorted(scenarios.items())])


def _environment(report: dict) -> list[str]:
    machine = machine_of(report)
    rows = [(label, " ".join(machine[key]) if isinstance(machine.get(key), list) else machine.get(key, "-"))
            for key, label in MACHINE_ROWS]
    accelerators = machine.get("accelerators")
    rows.append(("accelerators", "not recorded (report_version 2)" if accelerators is None else
                 ", ".join(f"{a.get('name')} (driver {a.get('driver')})" for a in accelerators) or "none"))
    rows += [("command", " ".join(map(str, report.get("command") or [])) or "-"),
             ("commit", report.get("git_commit") or "-"), ("created", report.get("created", "-"))]
    rows += [(package, version) for package, version in sorted((report.get("versions") or {}).items())]
    return ["## Environment", ""] + table(("Field", "Value"), rows)


def fleet_markdown(fleet: dict) -> str:
    """The fleet: its machines, then every perf case on every machine."""
    members = [(m["label"], m["source"], m["report"]["report_version"],
                "yes" if report_verdict(m["report"], m["label"])[0] else "**no**") for m in fleet["members"]]
    cases = [(r["case"], r["machine"], "-" if r["samples_per_s"] is None else f"{r['samples_per_s']:,.0f}",
              "-" if r["auc"] is None else f"{r['auc']:.5f}", r["gates_passed"], r["gates_failed"])
             for r in fleet_rows(fleet)]
    return "\n".join(["# widedeep-bench fleet", "", f"{len(members)} machine(s), merged {fleet.get('created', '?')}.",
                      "", "## Machines", ""] + table(("Machine", "Report", "report_version", "passed"), members)
                     + ["## Every case on every machine", ""]
                     + table(("Case", "Machine", "samples/s", "AUC", "gates passed", "gates failed"), cases))


def comparison_markdown(comparison) -> str:
    """A ``reporting.compare.Comparison``: warnings, throughput verdicts, accuracy and parity, gates that flipped."""
    c = comparison
    lines = [f"# widedeep-bench compare: {'no regression' if c.passed else 'REGRESSION'}", "",
             f"New `{c.new_source}` ({c.new_machine}) against base `{c.base_source}` ({c.base_machine}).", ""]
    if c.machine_differences:
        lines += [f"> **Warning:** reports from different machines; these fields differ: "
                  f"{', '.join(c.machine_differences)}.", ""]
    lines += [f"- {note}" for note in c.notes + [f"versions: {v}" for v in c.version_changes]]
    lines += ["", f"## Throughput (one-sided Mann-Whitney U at alpha {c.alpha:g}, threshold "
                  f"{c.max_regression:.1%})", ""]
    lines += table(("Case", "base samples/s", "new samples/s", "change", "verdict"), [
        (t.case, "-" if t.base is None else f"{t.base:,.0f}", "-" if t.new is None else f"{t.new:,.0f}",
         "-" if t.change is None else f"{t.change:+.1%}", f"**{t.verdict}**" if t.regression else t.verdict)
        for t in c.throughput])
    for title, changes in (("Accuracy", c.accuracy), ("Parity", c.parity)):
        if changes:
            lines += [f"## {title}", ""] + table(("Case", "figure", "base", "new", "delta"), [
                (f.case, f.figure, f"{f.base:.6g}", f"{f.new:.6g}", f"{f.delta:+.3g}") for f in changes])
    lines += ["## Gates that changed", ""]
    lines += table(("Gate", "base", "new"), [(f"**{f.name}**" if f.lost else f.name, f.base or "absent",
                                              f.new or "absent") for f in c.gates]) if c.gates else ["None.", ""]
    return "\n".join(lines)
