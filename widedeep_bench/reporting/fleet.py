"""A fleet: the reports of several machines (a CI matrix over hosts) in one file, each tagged with its machine.

``{"fleet_version": 1, "created": ISO, "members": [{"label", "source", "machine", "report"}]}``; a label is
"CPU model / hostname", made unique with " #2", " #3" where two machines read the same.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from widedeep_bench import gates as gate_rules
from widedeep_bench.errors import WidedeepError
from widedeep_bench.reporting.load import FLEET_VERSION, case_order, load_report, machine_label, machine_of


def merge_reports(paths: list[Path]) -> dict:
    """The fleet of the reports at ``paths`` (each loaded and checked; the same file twice is refused)."""
    seen, members, labels = set(), [], {}
    for path in paths:
        if Path(path).resolve() in seen:
            raise WidedeepError(f"{path}: given twice; each machine's report once")
        seen.add(Path(path).resolve())
        report = load_report(Path(path))
        label = machine_label(machine_of(report))
        labels[label] = labels.get(label, 0) + 1
        members.append({"label": label if labels[label] == 1 else f"{label} #{labels[label]}", "source": str(path),
                        "machine": machine_of(report), "report": report})
    return {"fleet_version": FLEET_VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "members": members}


def fleet_rows(fleet: dict) -> list[dict]:
    """One row per perf case and machine that measured it: samples/s, the engine's AUC, the machine's gates.

    ``gates_passed`` / ``gates_failed`` count the whole run of that machine (FAIL and NOT RUN are failed)."""
    rows = []
    cases = sorted({case for member in fleet["members"] for case in member["report"].get("throughput") or {}},
                   key=case_order)
    for case in cases:
        engine = case.rpartition("/b")[0] or case
        for member in fleet["members"]:
            report = member["report"]
            figures = (report.get("throughput") or {}).get(case)
            accuracy = (report.get("accuracy") or {}).get(engine) or {}
            statuses = [gate["status"] for gate in report["gates"]]
            rows.append({"case": case, "machine": member["label"],
                         "samples_per_s": figures["samples_per_s"] if figures else None,
                         "auc": accuracy.get("auc"), "gates_passed": statuses.count(gate_rules.PASS),
                         "gates_failed": statuses.count(gate_rules.FAIL) + statuses.count(gate_rules.NOT_RUN)})
    return rows
