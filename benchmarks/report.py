"""The benchmark's findings as markdown tables: targets first, then every measurement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MB = 1_000_000


@dataclass
class TargetRow:
    """One product target: what was measured, the target, the value, and whether it was met."""

    label: str
    target: str
    measured: str
    status: str  # "met", "missed" or "n/a"
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        """The row for the JSON results."""
        return {
            "label": self.label,
            "target": self.target,
            "measured": self.measured,
            "status": self.status,
            "note": self.note,
        }


def seconds(value: float | None) -> str:
    """A duration for a table cell."""
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None if either is missing."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def times(value: float | None, digits: int = 2) -> str:
    """A ratio for a table cell, like ``0.42x``."""
    return "n/a" if value is None else f"{value:.{digits}f}x"


def megabytes(value: float | None) -> str:
    """A byte count in MB (10^6 bytes) for a table cell."""
    return "n/a" if value is None else f"{value / MB:.1f} MB"


def verdict(ok: bool | None) -> str:
    """``met``, ``missed`` or ``n/a``."""
    if ok is None:
        return "n/a"
    return "met" if ok else "missed"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def targets_table(rows: list[TargetRow], *, judged: bool = True) -> str:
    """The product targets as a markdown table; ``judged=False`` shows no verdicts."""
    lines = ["| measurement | target | measured | status |", "| --- | --- | --- | --- |"]
    for row in rows:
        status = {"met": "✅ met", "missed": "❌ missed"}.get(row.status, "— n/a")
        if not judged:
            status = "— not judged (tiny run)"
        measured = row.measured + (f" ({row.note})" if row.note else "")
        lines.append(f"| {_cell(row.label)} | {_cell(row.target)} | {_cell(measured)} | {status} |")
    return "\n".join(lines)


def comparison_table(rows: list[dict[str, Any]], tools: list[str]) -> str:
    """Best time, ratio to tar and peak memory of every tool, per operation and project."""
    header = ["operation", "project", *[f"{tool}" for tool in tools]]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        cells = [row["operation"], row["project"]]
        baseline = row["tools"].get("tar", {}).get("best")
        for tool in tools:
            result = row["tools"].get(tool)
            if result is None:
                cells.append("—")
            elif result.get("error"):
                cells.append("failed")
            else:
                parts = [seconds(result["best"])]
                if tool != "tar" and baseline:
                    parts.append(times(ratio(result["best"], baseline)))
                parts.append(f"{result['peak_rss'] / MB:.0f} MB RSS")
                if result.get("size"):
                    parts.append(f"archive {megabytes(result['size'])}")
                cells.append(", ".join(parts))
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def machine_lines(machine: dict[str, Any]) -> str:
    """The machine description as a markdown list."""
    tools = machine["tools"]
    return "\n".join(
        [
            f"- CPU: {machine['cpu']}, {machine['cores']} cores "
            f"({machine['usable_cores']} usable); memory {machine['memory']}",
            f"- {machine['os']}; {machine['python']} ({machine['python_executable']})",
            f"- work folder {machine['workdir']} on {machine['workdir_filesystem']}",
            f"- {tools['tar'] or 'tar: unknown'}; pigz: {tools['pigz'] or 'not installed'}; "
            f"jellycell CLI: {tools['jellycell'] or 'not installed'}",
            f"- peak memory: {machine['memory_method']}",
            f"- load average (1/5/15 min) before the run {machine['load_before']}, "
            f"after it {machine['load_after']}",
        ]
    )
