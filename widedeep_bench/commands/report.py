"""``report``: show a saved run's gates, accuracy and throughput (scoring is separate from running).

Exit 0 only when the report says the run passed, lists no problems, and every gate it lists as selected
ran and passed (all are checked: a hand-edited ``passed`` does not make a failed gate pass, and each
evaluated gate is judged again from its measured value and threshold, so an edited status or a NaN
cannot pass); 1 otherwise; 2 for a file that is not a report (one line, never a traceback). A report is
not signed: edits that keep its numbers consistent are not detected.
"""

from __future__ import annotations

import json
from pathlib import Path

from widedeep_bench import gates as gate_rules

ACCEPTED = (gate_rules.PASS, gate_rules.DESELECTED, gate_rules.NOT_APPLICABLE)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="print the gates, accuracy and throughput of a report written by --wd-report",
        description="Read a report JSON written by `pytest --wd-report PATH`, print its gate table, accuracy "
                    "and throughput. Exit 0 when every selected gate ran and passed, 1 when one failed or did "
                    "not run (or none ran), 2 when the file is not a report. The last stdout line is JSON: "
                    "passed, gates, failed, not_run.")
    parser.add_argument("report", type=Path, help="the JSON written by --wd-report")
    parser.set_defaults(run=run)


def _rows(saved: dict, path: Path) -> list[gate_rules.GateRow]:
    rows = []
    for index, item in enumerate(saved["gates"]):
        try:
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
            rows.append(gate_rules.GateRow(name, status, result, why))
        except (KeyError, TypeError, ValueError) as exc:
            from widedeep_bench.errors import WidedeepError

            raise WidedeepError(f"{path}: gates[{index}] is not a gate of a report_version 2 or 3 report ({exc!r})") from exc
    return rows


def _rejudged(item: dict) -> gate_rules.GateResult:
    """The gate judged again from its saved numbers by the same rule the run used (scoring is separate from
    running), so an edited status or a NaN measurement cannot pass."""
    numbers = [item["measured"], item["threshold"]]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        raise TypeError(f"measured and threshold must be numbers, got {numbers!r}")
    if not all(isinstance(item[k], str) for k in ("unit", "method")):
        raise TypeError("unit and method must be strings")
    return gate_rules.evaluate(item["name"], item["measured"], item["op"], item["threshold"], unit=item["unit"],
                               method=item["method"])


def run(args) -> dict:
    from widedeep_bench.errors import GatesFailed, WidedeepError
    from widedeep_bench.suite.results import summary_lines

    try:
        saved = json.loads(args.report.read_text())
    except IsADirectoryError as exc:
        raise WidedeepError(f"{args.report}: is a directory, expected a report JSON") from exc
    except OSError as exc:
        raise WidedeepError(f"{args.report}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WidedeepError(f"{args.report}: not JSON ({exc})") from exc
    if not isinstance(saved, dict) or not isinstance(saved.get("gates"), list):
        raise WidedeepError(f"{args.report}: not a widedeep_bench report (no 'gates' list); write one with "
                            f"`pytest --wd-report {args.report}`")
    rows = _rows(saved, args.report)
    problems = saved.get("problems", [])
    if not isinstance(problems, list) or not all(isinstance(problem, str) for problem in problems):
        raise WidedeepError(f"{args.report}: 'problems' is not a list of strings")
    verdict = gate_rules.Verdict(rows, problems)
    machine = saved.get("machine") if isinstance(saved.get("machine"), dict) else {}
    try:
        context = saved.get("context") if isinstance(saved.get("context"), dict) else {}
        lines = summary_lines(verdict, saved.get("accuracy") or {}, saved.get("throughput") or {},
                              saved.get("scenarios") or {}, saved.get("precision") or {}, context.get("calibration"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WidedeepError(f"{args.report}: its accuracy, throughput, scenario, precision or calibration section is not a report's ({exc!r})") from exc
    print(f"report {args.report}: widedeep-bench {saved.get('widedeep_bench_version', '?')}, created "
          f"{saved.get('created', '?')}, commit {saved.get('git_commit') or '?'}, machine {machine.get('cpu', '?')}")
    print("\n".join(lines))
    failed = [row.name for row in rows if row.status == gate_rules.FAIL]
    not_run = [row.name for row in rows if row.status == gate_rules.NOT_RUN]
    evaluated = sum(row.result is not None for row in rows)
    result = {"passed": False, "gates": len(rows), "failed": failed, "not_run": not_run,
              "widedeep_bench_version": saved.get("widedeep_bench_version")}
    reasons = []
    if failed:
        reasons.append(f"{len(failed)} gate(s) failed: {failed}")
    if not_run:
        reasons.append(f"{len(not_run)} gate(s) did not run: {not_run}")
    if not evaluated:
        reasons.append("no gate was evaluated: the run measured nothing it could accept")
    if saved.get("passed") is not True or problems:
        reasons.append("the run itself did not pass: " + ("; ".join(problems) or "passed is not true"))
    if reasons or not all(row.status in ACCEPTED for row in rows):
        raise GatesFailed("; ".join(reasons) or "not every gate passed", result)
    return {**result, "passed": True}
