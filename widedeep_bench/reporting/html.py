"""A report, or a fleet of reports, as one self-contained HTML page.

The page is read where a CI artifact is opened, often offline or behind a proxy, and sometimes from
a mail attachment: so it holds everything itself. Figures are inline SVG, style is one inline <style>,
there is no script and no reference to anything outside the file (no URL, no font, no stylesheet).
Every piece of text taken from a report passes through ``html.escape``.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ElementTree

from widedeep_bench.reporting import plots
from widedeep_bench.reporting.load import machine_of, report_verdict

NOT_RECORDED = "not recorded in this report (version {version})"
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 78em; padding: 0 1em; color: #1d1d1f; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; padding: .2em .7em; border-radius: 4px; font-weight: bold; color: #fff; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3em .5em; vertical-align: top; }
tr { border-bottom: 1px solid #eee; } th { background: #f4f4f6; } td.num { text-align: right; white-space: nowrap; }
.status { font-weight: bold; white-space: nowrap; text-align: center; border-radius: 3px; }
.PASS { background: #1f883d; color: #fff; } .FAIL { background: #cf222e; color: #fff; }
.NOT-RUN { background: #9a6700; color: #fff; } .DESELECTED, .N-A { background: #d0d7de; color: #1d1d1f; }
.method { font-size: .8em; color: #57606a; } .why { font-size: .85em; color: #cf222e; }
.note { color: #57606a; font-style: italic; }
figure { margin: .8em 0; } figure svg { max-width: 100%; height: auto; }
.grid { display: flex; flex-wrap: wrap; gap: .5em 1.5em; } .grid figure { flex: 0 1 30em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; } dt { font-weight: bold; }
code { font-size: .9em; word-break: break-all; }
"""
_SVG_NS, _XLINK_NS = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
_URL_REF = re.compile(r"url\(#([^)]+)\)")


def report_html(report: dict) -> str:
    """The page of one report: verdict and gate table first, then the figures, then the environment."""
    version = report.get("report_version")
    passed, reasons = report_verdict(report, "report")
    body = [f"<h1>widedeep-bench report {_verdict(passed)}</h1>", _reasons(reasons),
            "<h2>Gates</h2>", _gate_table(report.get("gates", [])),
            *_figures(report, version), "<h2>Environment</h2>", _environment(report)]
    return _page("widedeep-bench report", body)


def fleet_html(fleet: dict) -> str:
    """The page of a fleet: one row per machine, the cross-machine throughput chart, each machine's gates."""
    members = fleet.get("members", [])
    rates = {m["label"]: {case: t["samples_per_s"] for case, t in (m["report"].get("throughput") or {}).items()}
             for m in members}
    body = [f"<h1>widedeep-bench fleet: {len(members)} machines</h1>",
            f"<p class='method'>merged {_text(fleet.get('created', ''))}</p>",
            "<h2>Machines</h2>", _fleet_table(members),
            "<h2>Throughput across machines</h2>",
            _figure(f"samples/s per perf case on {', '.join(rates)}", plots.fleet_svg(rates), "fleet",
                    "no machine recorded a perf case"), _fleet_rates(rates)]
    for member in members:
        body += [f"<h2>Gates on {_text(member['label'])}</h2>", _gate_table(member["report"].get("gates", []))]
    return _page("widedeep-bench fleet", body)


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_text(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(part for part in body if part) + "\n</body></html>\n")


def _text(value: object) -> str:
    return html.escape(str(value))


def _verdict(passed: bool) -> str:
    """The verdict of ``load.report_verdict``, never the report's own ``passed`` field."""
    status = "PASS" if passed else "FAIL"
    return f"<span class='verdict {_css(status)}'>{status}</span>"


def _css(status: str) -> str:
    return re.sub(r"[^A-Za-z]+", "-", status)


def _reasons(reasons: list[str]) -> str:
    return "<ul>" + "".join(f"<li class='why'>{_text(r)}</li>" for r in reasons) + "</ul>" if reasons else ""


def _gate_table(gates: list[dict]) -> str:
    """PASS / FAIL / NOT RUN coloured; the measured value beside its threshold and unit; the method small."""
    if not gates:
        return "<p class='note'>no gate in this report</p>"
    rows = "".join(
        f"<tr><td class='status {_css(g['status'])}'>{_text(g['status'])}</td><td>{_text(g['name'])}"
        + (f"<div class='why'>{_text(g['why'])}</div>" if g.get("why") else "")
        + f"<div class='method'>{_text(g.get('method', ''))}</div></td>"
        f"<td class='num'>{_number(g.get('measured'))}</td><td>{_text(g.get('op', ''))}</td>"
        f"<td class='num'>{_number(g.get('threshold'))}</td><td>{_text(g.get('unit', ''))}</td></tr>"
        for g in gates)
    return ("<table class='gates'><thead><tr><th>status</th><th>gate (method)</th><th>measured</th><th></th>"
            f"<th>threshold</th><th>unit</th></tr></thead><tbody>{rows}</tbody></table>")


def _number(value: object) -> str:
    if value is None:
        return "&mdash;"
    return _text(f"{value:,.6g}" if isinstance(value, float) else value)


def _no_error_spread(histogram: dict) -> str:
    """Why a recorded histogram draws nothing: every error exactly 0, or not finite (NaN / inf outputs)."""
    return (f"nothing to draw: {histogram.get('zeros', 0)} errors exactly 0, {histogram.get('nonfinite', 0)} not "
            f"finite")


def _figures(report: dict, version: object) -> list[str]:
    """Each figure under its heading, or a note saying why it is absent (an old report, or nothing ran)."""
    throughput, parity = report.get("throughput") or {}, report.get("parity") or {}
    old = NOT_RECORDED.format(version=version)
    recorded_rounds = any("round_seconds" in t for t in throughput.values())
    parity_figures = [_figure(f"parity error distribution: {case}", plots.parity_svg(case, p), f"parity{i}",
                              old if "histogram" not in p else _no_error_spread(p["histogram"]))
                      for i, (case, p) in enumerate(sorted(parity.items()))]
    return [
        "<h2>Throughput against batch size</h2>",
        _figure("throughput against batch size", plots.throughput_svg(throughput), "throughput", "no perf case ran"),
        "<h2>Latency per round</h2>",
        _figure("latency distribution per perf case", plots.latency_svg(throughput), "latency",
                "no perf case ran" if not throughput or recorded_rounds else old),
        "<h2>Parity: error distribution against the reference (Diff Dist)</h2>",
        f"<div class='grid'>{''.join(parity_figures)}</div>" if parity_figures else "<p class='note'>no parity case ran</p>",
        "<h2>Accuracy against the all-negative baseline</h2>",
        _figure("accuracy per engine", plots.accuracy_svg(report.get("accuracy") or {}), "accuracy",
                "no accuracy case ran"),
        "<h2>Scenarios (MLPerf LoadGen)</h2>",
        _figure("LoadGen scenario results", plots.scenarios_svg(report.get("scenarios") or {}), "scenarios",
                "no scenario ran"),
    ]


def _figure(caption: str, svg: str | None, prefix: str, absent: str) -> str:
    if svg is None:
        return f"<p class='note'>{_text(caption)}: {_text(absent)}</p>"
    return f"<figure>{inline_svg(svg, prefix, caption)}</figure>"


def inline_svg(svg: str, prefix: str, label: str) -> str:
    """matplotlib's SVG made fit to sit inside an HTML page beside others: its metadata dropped, its ids
    prefixed (two figures' glyph and clip ids would otherwise collide), namespaces left to the HTML parser
    (which places <svg> in the SVG namespace itself) and ``xlink:href`` written as SVG 2's plain ``href``."""
    root = ElementTree.fromstring(svg)
    for parent in root.iter():
        for child in [c for c in parent if c.tag == f"{{{_SVG_NS}}}metadata"]:
            parent.remove(child)
    for element in root.iter():
        element.tag = element.tag.removeprefix(f"{{{_SVG_NS}}}")
        for name, value in list(element.attrib.items()):
            if name == f"{{{_XLINK_NS}}}href":
                del element.attrib[name]
                name = "href"
            if name == "id":
                value = f"{prefix}-{value}"
            elif name == "href" and value.startswith("#"):
                value = f"#{prefix}-{value[1:]}"
            element.set(name, _URL_REF.sub(rf"url(#{prefix}-\1)", value))
    root.set("role", "img")
    root.set("aria-label", label)
    return ElementTree.tostring(root, encoding="unicode")


def _environment(report: dict) -> str:
    machine, versions = machine_of(report), report.get("versions") or {}
    accelerators = machine.get("accelerators")
    shown = (NOT_RECORDED.format(version=report.get("report_version")) if accelerators is None
             else "; ".join(f"{a['name']} (driver {a['driver']}, {a.get('memory_mib') or '?'} MiB, "
                            f"{a.get('source', '?')})" for a in accelerators) or "none found")
    rows = [("CPU", f"{machine.get('cpu', '?')} ({machine.get('logical_cpus', '?')} logical CPUs, {machine.get('machine', '')})"),
            ("CPU flags", " ".join(machine.get("cpu_flags") or [])), ("accelerators", shown),
            ("host", machine.get("hostname", "")), ("platform", machine.get("platform", "")),
            ("Python", machine.get("python", "")),
            ("versions", ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))),
            ("command", " ".join(map(str, report.get("command") or []))),
            ("commit", report.get("git_commit") or "not recorded"),
            ("created", report.get("created", "")), ("report version", report.get("report_version", ""))]
    return "<dl>" + "".join(f"<dt>{_text(k)}</dt><dd><code>{_text(v)}</code></dd>" for k, v in rows) + "</dl>"


def _fleet_table(members: list[dict]) -> str:
    head = "".join(f"<th>{name}</th>" for name in ("machine", "verdict", "CPU", "accelerators", "report"))
    rows = "".join(_fleet_row(member) for member in members)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _fleet_row(member: dict) -> str:
    machine, (passed, _) = machine_of(member["report"]), report_verdict(member["report"], member["label"])
    accelerators = ", ".join(a["name"] for a in machine.get("accelerators") or []) or "none recorded"
    return (f"<tr><td>{_text(member['label'])}</td><td>{_verdict(passed)}</td><td>{_text(machine.get('cpu', '?'))}</td>"
            f"<td>{_text(accelerators)}</td><td><code>{_text(member.get('source', ''))}</code></td></tr>")


def _fleet_rates(rates: dict[str, dict[str, float]]) -> str:
    """The chart's figures as numbers: samples/s per perf case (row) on each machine (column)."""
    cases = sorted({case for by_case in rates.values() for case in by_case})
    if not cases:
        return ""
    head = "".join(f"<th>{_text(label)}</th>" for label in rates)
    rows = "".join(f"<tr><td>{_text(case)}</td>"
                   + "".join(f"<td class='num'>{f'{by_case[case]:,.0f}' if case in by_case else '&mdash;'}</td>"
                             for by_case in rates.values()) + "</tr>" for case in cases)
    return f"<table><thead><tr><th>samples/s</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
