"""``report``: show a saved run's gates, accuracy and throughput (scoring is separate from running), and
write it as markdown (``--markdown``, for a CI step summary) or one self-contained HTML page (``--html``).

Exit 0 only when ``reporting.load.report_verdict`` says the run passed (the report says so, lists no
problems, and every gate it lists as selected ran and passed, each judged again from its measured value
and threshold, so a hand-edited ``passed`` or status, or a NaN, cannot pass; the pages show the same
verdict); 1 otherwise (the pages are written all the same); 2 for a file that is not
a report or an output that cannot be written (one line, never a traceback).
"""

from __future__ import annotations

from pathlib import Path

from widedeep_bench import gates as gate_rules


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="print the gates, accuracy and throughput of a report written by --wd-report",
        description="Read a report JSON written by `pytest --wd-report PATH`, print its gate table, accuracy "
                    "and throughput, and write it as markdown or HTML if asked. Exit 0 when every selected gate "
                    "ran and passed, 1 when one failed or did not run (or none ran), 2 when the file is not a "
                    "report or an output cannot be written. The last stdout line is JSON: passed, gates, failed, "
                    "not_run.")
    parser.add_argument("report", type=Path, help="the JSON written by --wd-report")
    parser.add_argument("--html", type=Path, metavar="OUT.html",
                        help="write one self-contained page (inline SVG plots, no script, no network)")
    parser.add_argument("--markdown", type=Path, metavar="OUT.md",
                        help="write the summary as GitHub-flavoured markdown (for $GITHUB_STEP_SUMMARY)")
    parser.set_defaults(run=run)


def run(args) -> dict:
    from widedeep_bench.commands import check_outputs, html_pages
    from widedeep_bench.errors import WidedeepError
    from widedeep_bench.reporting.load import gate_rows, load_report, machine_of
    from widedeep_bench.suite.results import summary_lines

    check_outputs({"--html": args.html, "--markdown": args.markdown}, [args.report])
    if args.html is not None:
        html_pages()
    saved = load_report(args.report)
    rows = gate_rows(saved, str(args.report))
    try:
        context = saved.get("context") or {}
        lines = summary_lines(gate_rules.Verdict(rows, saved.get("problems", [])), saved.get("accuracy") or {},
                              saved.get("throughput") or {}, saved.get("scenarios") or {},
                              saved.get("precision") or {}, context.get("calibration"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WidedeepError(f"{args.report}: its accuracy, throughput, scenario, precision or calibration section is "
                            f"not a report's ({exc!r})") from exc
    pages = _pages(saved, args)  # every page made before any is written: a failure leaves no partial outputs
    print(f"report {args.report}: widedeep-bench {saved.get('widedeep_bench_version', '?')}, created "
          f"{saved.get('created', '?')}, commit {saved.get('git_commit') or '?'}, "
          f"machine {machine_of(saved).get('cpu', '?')}")
    print("\n".join(lines))
    _write_pages(pages)
    return _verdict(saved, rows, str(args.report))


def _pages(saved: dict, args) -> list[tuple[str, Path, str]]:
    """(kind, path, text) of each page asked for."""
    pages = []
    if args.markdown is not None:
        from widedeep_bench.reporting.markdown import report_markdown

        pages.append(("markdown", args.markdown, report_markdown(saved)))
    if args.html is not None:
        from widedeep_bench.commands import html_pages

        pages.append(("html", args.html, html_pages().report_html(saved)))
    return pages


def _write_pages(pages: list[tuple[str, Path, str]]) -> None:
    from widedeep_bench.commands import write_text_atomically

    for kind, path, text in pages:
        write_text_atomically(path, text)
        print(f"{kind}: {path}")


def _verdict(saved: dict, rows: list[gate_rules.GateRow], source: str) -> dict:
    from widedeep_bench.errors import GatesFailed
    from widedeep_bench.reporting.load import report_verdict

    passed, reasons = report_verdict(saved, source)
    result = {"passed": passed, "gates": len(rows),
              "failed": [row.name for row in rows if row.status == gate_rules.FAIL],
              "not_run": [row.name for row in rows if row.status == gate_rules.NOT_RUN],
              "widedeep_bench_version": saved.get("widedeep_bench_version")}
    if not passed:
        raise GatesFailed("; ".join(reasons), result)
    return result
