"""``compare BASE.json NEW.json``: what changed between two runs, and whether it is a regression.

Exit 0 when nothing regressed; 1 when a perf case under test is significantly slower beyond
``--max-regression`` or a gate that passed in BASE failed or did not run in NEW (the rules:
``reporting.compare``); 2 for a file that is not a report, a bad option value or an output that cannot be
written (one line). Reports from different machines are compared all the same, under a warning naming the
machine fields that differ; cases or gates of BASE that NEW lacks are named under a warning too.
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare two reports: throughput with a noise test, accuracy, parity, gates that flipped",
        description="Compare NEW with BASE (reports written by --wd-report): per perf case the change in median "
                    "samples/s with a one-sided Mann-Whitney U test on the medians of consecutive blocks of the "
                    "recorded rounds (so drift within a run reads as noise), made against --max-regression; the "
                    "change in accuracy and parity, and the gates that flipped. Exit 1 when a case under test is "
                    "significantly slower beyond --max-regression (the TF original and the null runner are "
                    "references: shown, never failed) or a gate went from PASS to FAIL or NOT RUN; 0 otherwise; "
                    "2 for bad input. The last stdout line is JSON.")
    parser.add_argument("base", type=Path, help="the earlier run's report (the baseline)")
    parser.add_argument("new", type=Path, help="the run to judge against it")
    parser.add_argument("--max-regression", default="5%", metavar="FRACTION",
                        help="the largest fall in median samples/s tolerated, as 5%% or 0.05 (default %(default)s)")
    parser.add_argument("--alpha", default="0.01", metavar="P",
                        help="significance level of the noise test (default %(default)s)")
    parser.add_argument("--markdown", type=Path, metavar="OUT.md", help="write the comparison as markdown")
    parser.set_defaults(run=run)


def run(args) -> dict:
    from widedeep_bench.commands import check_outputs, write_text_atomically
    from widedeep_bench.errors import GatesFailed, WidedeepError
    from widedeep_bench.reporting.compare import compare_reports, parse_fraction
    from widedeep_bench.reporting.load import load_report

    max_regression = parse_fraction(args.max_regression, "--max-regression")
    alpha = parse_fraction(args.alpha, "--alpha")
    if alpha == 0:
        raise WidedeepError(f"--alpha {args.alpha!r}: expected a level above 0 such as 0.01")
    check_outputs({"--markdown": args.markdown}, [args.base, args.new])
    comparison = compare_reports(load_report(args.base), load_report(args.new), base_source=str(args.base),
                                 new_source=str(args.new), max_regression=max_regression, alpha=alpha)
    print("\n".join(comparison_lines(comparison)))
    if args.markdown is not None:
        from widedeep_bench.reporting.markdown import comparison_markdown

        write_text_atomically(args.markdown, comparison_markdown(comparison))
        print(f"markdown: {args.markdown}")
    if not comparison.passed:
        reasons = ([f"significantly slower beyond {max_regression:.1%}: {comparison.regressions}"]
                   if comparison.regressions else [])
        reasons += [f"gate(s) passed in base and not in new: {comparison.lost_gates}"] if comparison.lost_gates else []
        raise GatesFailed("; ".join(reasons), comparison.summary())
    return comparison.summary()


def comparison_lines(comparison) -> list[str]:
    """The comparison as text: warnings first, then throughput, accuracy, parity, gates."""
    from widedeep_bench.reporting.compare import LOST

    c = comparison
    lines = [f"compare {c.new_source} ({c.new_machine}) with base {c.base_source} ({c.base_machine})"]
    if c.machine_differences:
        lines.append(f"WARNING: reports from different machines; these fields differ: "
                     f"{', '.join(c.machine_differences)}; a change in speed may be the machine's")
    missing = [f"perf case(s) {c.missing_cases}"] if c.missing_cases else []
    missing += [f"gate(s) {c.missing_gates}"] if c.missing_gates else []
    if missing:
        lines.append(f"WARNING: the new run lacks {' and '.join(missing)} of the base; not compared, "
                     f"not failed")
    lines += [f"note: {note}" for note in c.notes]
    lines += [f"versions: {change}" for change in c.version_changes]
    lines.append(f"throughput (median samples/s of the rounds; one-sided Mann-Whitney U on block medians at alpha "
                 f"{c.alpha:g}, against the threshold {c.max_regression:.1%}; references never fail):")
    lines += _aligned([("case", "base", "new", "change", "p", "verdict")] + [
        (t.case, _number(t.base), _number(t.new), _percent(t.change), _p_value(t),
         f"{t.verdict} (reference)" if t.reference else t.verdict)
        for t in c.throughput])
    for title, changes in (("accuracy", c.accuracy), ("parity", c.parity)):
        if changes:
            lines.append(f"{title}:")
            lines += _aligned([("case", "figure", "base", "new", "delta")] + [
                (f.case, f.figure, f"{f.base:.6g}", f"{f.new:.6g}", f"{f.delta:+.3g}") for f in changes])
    lines.append("gates that changed:" if c.gates else "gates: none changed")
    lines += [f"  {'LOST ' if flip.base == 'PASS' and flip.new in LOST else ''}{flip.name}: "
              f"{flip.base or 'absent'} -> {flip.new or 'absent'}" for flip in c.gates]
    return lines


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]) for row in rows]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def _p_value(change) -> str:
    """The p-value of the test in the direction the median moved."""
    p = change.p_slower if (change.change or 0) <= 0 else change.p_faster
    return "-" if p is None else f"{p:.2g}"
