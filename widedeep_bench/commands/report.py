"""``report``: show a saved run's gates, accuracy and throughput (scoring is separate from running)."""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="print the gates, accuracy and throughput of a report written by --wd-report",
        description="Read a report JSON written by `pytest --wd-report PATH`, print its gate table, accuracy "
                    "and throughput, and exit non-zero if any gate failed. The last stdout line is JSON: "
                    "passed, gates, failed (the failed gates' names).")
    parser.add_argument("report", type=Path, help="the JSON written by --wd-report")
    parser.set_defaults(run=run)


def run(args) -> dict:
    from widedeep_bench.errors import WidedeepError
    from widedeep_bench.suite.results import SuiteResults

    try:
        saved = json.loads(args.report.read_text())
    except OSError as exc:
        raise WidedeepError(f"{args.report}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise WidedeepError(f"{args.report}: not JSON ({exc})") from exc
    if not isinstance(saved, dict) or "gates" not in saved:
        raise WidedeepError(f"{args.report}: not a widedeep_bench report (no 'gates'); write one with "
                            f"`pytest --wd-report {args.report}`")
    results = SuiteResults()
    results.merge(saved)
    print(f"report {args.report}: created {saved.get('created', '?')}, commit {saved.get('git_commit') or '?'}, "
          f"machine {saved.get('machine', {}).get('cpu', '?')}")
    print("\n".join(results.summary_lines()))
    failed = [gate.name for gate in results.gates.failed]
    if failed:
        raise WidedeepError(f"{len(failed)} of {len(results.gates.results)} gates failed: {failed}")
    return {"passed": True, "gates": len(results.gates.results), "failed": failed}
