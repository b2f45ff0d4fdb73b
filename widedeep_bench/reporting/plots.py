"""The report's figures, drawn with matplotlib and returned as SVG text.

Each function takes one section of a report (or the fleet) and returns the SVG markup of one figure, or
``None`` when the section holds nothing to draw. Figures are built on ``matplotlib.figure.Figure`` directly,
never through pyplot, so no global figure state is kept and no GUI backend is needed. Text is drawn as
paths (``svg.fonttype = "path"``) so the page needs no font, and the SVG's ids are hashed with a fixed salt
and carry no date, so the same report always gives the same bytes.
"""

from __future__ import annotations

import io
from collections import defaultdict

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from widedeep_bench.reporting.compare import is_reference
from widedeep_bench.suite.engines import OVERHEAD_RUNNER, REFERENCE_RUNNER

# The TF original and the null runner (``is_reference``) are not engines under test: drawn apart from them.
_REFERENCE_STYLE = {
    REFERENCE_RUNNER: {"color": "black", "linestyle": "--", "marker": "s", "label": "TF original ({precision})"},
    OVERHEAD_RUNNER: {"color": "0.55", "linestyle": ":", "marker": "^",
                      "label": "null runner, {precision} (the harness's ceiling)"},
}
_RC = {"svg.fonttype": "path", "svg.hashsalt": "widedeep-bench", "font.size": 9, "axes.grid": True,
       "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False}


def svg_of(figure: Figure) -> str:
    """The figure as SVG text, without a date, so that equal reports give equal pages."""
    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buffer.getvalue()


def _figure(width_in: float, height_in: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width_in, height_in), layout="constrained")


def _engine(case: dict) -> str:
    return f"{case['backend']}-{case['precision']}"


def throughput_svg(throughput: dict) -> str | None:
    """samples/s against batch size (log-log), one line per engine and precision; whiskers span the
    slowest to the fastest timed round where ``round_seconds`` was recorded."""
    if not throughput:
        return None
    by_engine: dict[str, list[dict]] = defaultdict(list)
    for case in throughput.values():
        by_engine[_engine(case)].append(case)
    with matplotlib.rc_context(_RC):
        figure = _figure(7.5, 4.6)
        ax = figure.add_subplot()
        for engine in sorted(by_engine, key=lambda e: (is_reference(by_engine[e][0]), e)):
            cases = sorted(by_engine[engine], key=lambda c: c["batch_size"])
            batches = np.array([c["batch_size"] for c in cases], dtype=float)
            rates = np.array([c["samples_per_s"] for c in cases], dtype=float)
            style = _style(cases[0])
            line, = ax.plot(batches, rates, linewidth=1.6, **style)
            spread = [_round_rates(c) for c in cases]
            if all(s is not None for s in spread):
                low = rates - np.array([s.min() for s in spread])
                high = np.array([s.max() for s in spread]) - rates
                ax.errorbar(batches, rates, yerr=np.clip([low, high], 0, None), fmt="none",
                            ecolor=line.get_color(), capsize=3, linewidth=1)
        ax.set_xscale("log", base=2)
        batches = sorted({c["batch_size"] for c in throughput.values()})
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_yscale("log")
        ax.set_xlabel("batch size (samples)")
        ax.set_ylabel("samples/s (batch / median round)")
        ax.set_title("Throughput against batch size (whiskers: slowest and fastest round)")
        figure.legend(fontsize=8, loc="outside lower center", ncols=2)
    return svg_of(figure)


def _style(case: dict) -> dict:
    """An engine under test: a plain line; a reference at any precision: its reference style, labelled with
    the precision (the null runner computes nothing, so at every precision it is the harness's ceiling)."""
    if not is_reference(case):
        return {"marker": "o", "label": _engine(case)}
    style = _REFERENCE_STYLE[case["backend"]]
    return {**style, "label": style["label"].format(precision=case["precision"])}


def _round_rates(case: dict) -> np.ndarray | None:
    rounds = case.get("round_seconds")
    return case["batch_size"] / np.asarray(rounds, dtype=float) if rounds else None


def latency_svg(throughput: dict) -> str | None:
    """One box per perf case over its timed rounds, in ms (log scale: batches differ by 16x); ``None``
    when no case recorded its rounds (version-2 reports)."""
    cases = {name: case["round_seconds"] for name, case in throughput.items() if case.get("round_seconds")}
    if not cases:
        return None
    names = sorted(cases, key=lambda n: (throughput[n]["batch_size"], n), reverse=True)
    with matplotlib.rc_context(_RC):
        figure = _figure(7.5, 1.2 + 0.32 * len(names))
        ax = figure.add_subplot()
        ax.boxplot([np.asarray(cases[n], dtype=float) * 1e3 for n in names], orientation="horizontal",
                   tick_labels=[f"{n} ({len(cases[n])} rounds)" for n in names], widths=0.6,
                   flierprops={"markersize": 3})
        ax.set_xscale("log")
        ax.set_xlabel("latency of one round (ms)")
        ax.set_title("Latency distribution per perf case (warm-up excluded)")
    return svg_of(figure)


def parity_svg(case: str, parity: dict) -> str | None:
    """ByteMLPerf's "Diff Dist": counts of absolute errors in log10-spaced bins against the reference
    (log-log), with the tolerance (atol) drawn as a vertical line; ``None`` without a histogram."""
    histogram = parity.get("histogram")
    if not histogram or not histogram.get("counts"):  # absent (version 2), or every error exactly 0 / not finite
        return None
    edges, counts = np.asarray(histogram["edges"], dtype=float), np.asarray(histogram["counts"], dtype=float)
    with matplotlib.rc_context(_RC):
        figure = _figure(5.2, 3.0)
        ax = figure.add_subplot()
        ax.stairs(counts, edges, fill=True, alpha=0.75, label="elements per bin")
        if parity.get("atol", 0) > 0:
            ax.axvline(parity["atol"], color="crimson", linestyle="--", label=f"atol {parity['atol']:g}")
        ax.set_xscale("log")
        if counts.any():
            ax.set_yscale("log")
        ax.set_xlabel(f"{histogram.get('unit', 'absolute error')}")
        ax.set_ylabel("elements")
        zeros = histogram.get("zeros", 0)
        ax.set_title(f"{case}\n{parity.get('failing', 0)} of {parity.get('elements', '?')} beyond tolerance; "
                     f"{zeros} exactly equal (not drawn)", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
    return svg_of(figure)


def accuracy_svg(accuracy: dict) -> str | None:
    """AUC and Top-1 per engine; chance (AUC 0.5) and the all-negative baseline's Top-1 drawn as lines, so
    a model that learnt nothing is seen at once."""
    if not accuracy:
        return None
    names = sorted(accuracy, reverse=True)
    with matplotlib.rc_context(_RC):
        figure = _figure(7.5, 1.3 + 0.3 * len(names))
        auc_ax, top1_ax = figure.subplots(1, 2, sharey=True)
        positions = np.arange(len(names))
        for ax, metric, title in ((auc_ax, "auc", "AUC"), (top1_ax, "top1", "Top-1")):
            values = [accuracy[n][metric] for n in names]
            bars = ax.barh(positions, values, height=0.6, color="tab:blue")
            ax.bar_label(bars, labels=[f"{v:.4f}" for v in values], fontsize=7, padding=2)
            ax.set_xlim(0, 1.12)
            ax.set_title(title)
        auc_ax.axvline(0.5, color="0.4", linestyle=":", label="chance (0.5)")
        baselines = {round(accuracy[n]["all_negative_top1"], 6) for n in names if "all_negative_top1" in accuracy[n]}
        for baseline in sorted(baselines):
            top1_ax.axvline(baseline, color="crimson", linestyle="--", label=f"all-negative baseline {baseline:.4f}")
        auc_ax.set_yticks(positions, names)
        for ax in (auc_ax, top1_ax):
            ax.legend(fontsize=7, loc="lower right")
    return svg_of(figure)


def scenarios_svg(scenarios: dict) -> str | None:
    """LoadGen's figure per scenario case (Offline samples/s, Server completed QPS) beside the null runner's
    Offline ceiling, log scale; the p99 latency is written on the bar where the scenario has one."""
    runs = {name: s for name, s in scenarios.items() if s.get("performance")}
    if not runs:
        return None
    names = sorted(runs, reverse=True)
    with matplotlib.rc_context(_RC):
        figure = _figure(7.5, 1.4 + 0.42 * len(names))
        ax = figure.add_subplot()
        positions = np.arange(len(names))
        figures = [_scenario_figure(runs[n]["performance"]) for n in names]
        bars = ax.barh(positions, figures, height=0.55, color="tab:green", label="engine (LoadGen)")
        ax.bar_label(bars, labels=[_scenario_label(runs[n]["performance"]) for n in names], fontsize=7, padding=3)
        ceilings = [(p, runs[n]["null"]["offline_samples_per_s"]) for p, n in zip(positions, names) if runs[n].get("null")]
        if ceilings:
            ax.scatter([c for _, c in ceilings], [p for p, _ in ceilings], marker="|", s=300, color="0.3",
                       zorder=3, label="null runner's Offline ceiling")
        ax.set_xscale("log")
        ax.set_yticks(positions, names)
        ax.set_xlabel("samples/s (Offline) or completed QPS (Server)")
        ax.set_title("MLPerf LoadGen scenarios")
        figure.legend(fontsize=7, loc="outside lower center", ncols=2)
    return svg_of(figure)


def _scenario_figure(run: dict) -> float:
    return float(run["completed_qps"] if run["scenario"] == "Server" else run["samples_per_s"])


def _scenario_label(run: dict) -> str:
    p99 = run.get("latency_ms", {}).get("p99")
    latency = f", p99 {p99:.2f} ms" if run["scenario"] != "Offline" and p99 is not None else ""
    return f"{_scenario_figure(run):,.0f} {run['validity']}{latency}"


def fleet_svg(rates: dict[str, dict[str, float]]) -> str | None:
    """Grouped bars: samples/s per perf case (x) for each machine (one colour each), log scale.
    ``rates`` maps a machine's label to {case: samples/s}; a case a machine did not run has no bar."""
    cases = sorted({case for by_case in rates.values() for case in by_case})
    if not cases:
        return None
    labels = list(rates)
    width = 0.8 / len(labels)
    with matplotlib.rc_context(_RC):
        figure = _figure(max(7.5, 0.55 * len(cases) * max(1, len(labels) / 2)), 4.6)
        ax = figure.add_subplot()
        for i, label in enumerate(labels):
            positions = [j + (i - (len(labels) - 1) / 2) * width for j, case in enumerate(cases) if case in rates[label]]
            ax.bar(positions, [rates[label][c] for c in cases if c in rates[label]], width=width, label=label)
        ax.set_xticks(range(len(cases)), cases, rotation=35, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("samples/s")
        ax.set_title("Throughput per perf case across machines")
        ax.legend(fontsize=8, loc="best")
    return svg_of(figure)
