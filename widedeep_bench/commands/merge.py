"""``merge R1.json R2.json ... --out FLEET.json``: several machines' reports in one fleet, and its table.

Exit 0 when the fleet was written; 2 for a file that is not a report (one line naming it) or an output
that cannot be written. One report makes a fleet of one (a CI matrix reduced to one host still gets its
table and page). Gates are not judged here: ``report`` judges each machine's run.
"""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge", help="merge several machines' reports into one fleet JSON (and a table, markdown, HTML)",
        description="Merge reports written by --wd-report on several machines into one fleet JSON, each member "
                    "labelled by its machine (CPU model / hostname), and print a table of every perf case on every "
                    "machine. The last stdout line is JSON.")
    parser.add_argument("reports", type=Path, nargs="+", metavar="REPORT", help="reports written by --wd-report")
    parser.add_argument("--out", type=Path, required=True, metavar="FLEET.json", help="the fleet JSON to write")
    parser.add_argument("--html", type=Path, metavar="FLEET.html", help="write the fleet page (cross-machine chart)")
    parser.add_argument("--markdown", type=Path, metavar="FLEET.md", help="write the fleet table as markdown")
    parser.set_defaults(run=run)


def run(args) -> dict:
    from widedeep_bench.commands import check_outputs, html_pages, write_text_atomically
    from widedeep_bench.reporting.fleet import fleet_rows, merge_reports

    check_outputs({"--out": args.out, "--html": args.html, "--markdown": args.markdown}, args.reports)
    pages = html_pages() if args.html is not None else None
    fleet = merge_reports(args.reports)
    outputs = [(args.out, json.dumps(fleet, indent=2, sort_keys=True) + "\n")]
    if args.markdown is not None:
        from widedeep_bench.reporting.markdown import fleet_markdown

        outputs.append((args.markdown, fleet_markdown(fleet)))
    if pages is not None:
        outputs.append((args.html, pages.fleet_html(fleet)))
    print("\n".join(fleet_lines(fleet_rows(fleet))))
    for path, text in outputs:  # each made before any is written: a failure leaves no fleet without its pages
        write_text_atomically(path, text)
    return {"out": str(args.out), "members": [member["label"] for member in fleet["members"]]}


def fleet_lines(rows: list[dict]) -> list[str]:
    """Every perf case on every machine, aligned: samples/s, AUC, the machine's gates passed / failed."""
    table = [("case", "machine", "samples/s", "AUC", "gates passed", "gates failed")]
    table += [(row["case"], row["machine"], "-" if row["samples_per_s"] is None else f"{row['samples_per_s']:,.0f}",
               "-" if row["auc"] is None else f"{row['auc']:.5f}", str(row["gates_passed"]), str(row["gates_failed"]))
              for row in rows]
    if len(table) == 1:
        return ["no perf case in any report"]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]) for row in table]
