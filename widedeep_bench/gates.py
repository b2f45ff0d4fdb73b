"""Gates: named pass/fail checks with the measured value and the threshold, collected per session.

One ``GateBook`` lives for a pytest session (created in ``pytest_configure``, printed in
``pytest_terminal_summary``, saved by ``--wd-report``), like pytest-benchmark's session object.
"""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass

_OPS = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class GateResult:
    name: str  # e.g. "accuracy/onnxruntime/fp16: Top-1 >= floor"
    measured: float
    op: str  # ">=" or "<="
    threshold: float
    unit: str
    passed: bool
    method: str  # how `measured` was obtained, in words

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.name}: {self.measured:.6g} {self.op} {self.threshold:.6g} {self.unit}".rstrip()

    def as_dict(self) -> dict:
        return asdict(self)


class GateBook:
    """Collects gate results; a gate re-checked under the same name replaces the earlier result."""

    def __init__(self) -> None:
        self._results: dict[str, GateResult] = {}

    def check(self, name: str, measured: float, op: str, threshold: float, *, unit: str = "",
              method: str = "") -> GateResult:
        if op not in _OPS:
            raise ValueError(f"gate {name!r}: op must be one of {sorted(_OPS)}, got {op!r}")
        result = GateResult(name=name, measured=float(measured), op=op, threshold=float(threshold),
                            unit=unit, passed=bool(_OPS[op](measured, threshold)), method=method)
        self._results[name] = result
        return result

    def extend(self, results: list[dict]) -> None:
        """Merge results recorded elsewhere (pytest-xdist workers send theirs as dicts)."""
        for item in results:
            self._results[item["name"]] = GateResult(**item)

    @property
    def results(self) -> list[GateResult]:
        return list(self._results.values())

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self._results.values() if not r.passed]

    def table(self) -> str:
        """The gates as an aligned text table: gate, measured, threshold, result."""
        if not self._results:
            return "no gates were evaluated"
        rows = [("gate", "measured", "threshold", "unit", "result")]
        rows += [(r.name, f"{r.measured:.6g}", f"{r.op} {r.threshold:.6g}", r.unit,
                  "pass" if r.passed else "FAIL") for r in self._results.values()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
