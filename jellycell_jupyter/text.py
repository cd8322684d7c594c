"""Reports as plain text, for terminals and for viewers that show only text."""

from __future__ import annotations

from pydantic import BaseModel

from .archive import (
    CheckpointCreateReport,
    CheckpointDeleteReport,
    CheckpointListReport,
    CheckpointRestoreReport,
    CheckpointVerifyReport,
)

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """``754 B``, ``1.50 KiB``, ``23.4 MiB``, ``300 GiB``: powers of 1024, three digits.

    The JupyterLab panel writes sizes the same way.
    """
    value, unit = float(size), 0
    # Rounded, not raw: 1023.9 KiB reads as 1.00 MiB.
    while unit < len(_UNITS) - 1 and round(value, _digits(value, unit)) >= 1024:
        value /= 1024
        unit += 1
    digits = _digits(value, unit)
    if digits and round(value, digits) >= 10 ** (3 - digits):
        digits -= 1  # 9.996 reads as 10.0, not 10.00
    return f"{value:.{digits}f} {_UNITS[unit]}"


def _digits(value: float, unit: int) -> int:
    """Decimals that show ``value`` of ``_UNITS[unit]`` with three digits (bytes: none)."""
    return 0 if unit == 0 or value >= 100 else 1 if value >= 10 else 2


def describe(report: BaseModel) -> str:
    """What a person should read after a command: one line, or a table for a listing."""
    if isinstance(report, CheckpointCreateReport):
        line = f"checkpoint {report.name} -> {report.path} ({report.files} files, "
        line += f"{human_size(report.size_bytes)})"
        if report.message:
            line += f"\n  message: {report.message}"
        for skipped in report.skipped:
            line += f"\n  skipped {skipped.path}: {skipped.reason}"
        for changed in report.changed:
            line += f"\n  changed while archived: {changed}"
        return line
    if isinstance(report, CheckpointListReport):
        return list_table(report)
    if isinstance(report, CheckpointRestoreReport):
        how = "merged into" if report.merged else "restored into"
        return f"{report.name} {how} {report.target} ({report.files} files)"
    if isinstance(report, CheckpointVerifyReport):
        if not report.ok:
            # Not always damage: an archive may be intact and still refused (a link
            # out of its target, say); the problem says which.
            return f"{report.name} failed verification: " + "; ".join(report.problems)
        how = "every sha256 matches" if report.digests_checked else "readable; no digests to check"
        return f"{report.name} is intact ({report.files} files, {how})"
    if isinstance(report, CheckpointDeleteReport):
        return f"deleted checkpoint {report.name}"
    return report.model_dump_json(indent=2)


def list_table(report: CheckpointListReport) -> str:
    """A project's checkpoints as an aligned text table, newest first."""
    title = f"Checkpoints of {report.project_name or 'project'} in {report.project}"
    if not report.checkpoints:
        return f'{title}\nno checkpoints yet; create one with: checkpoint -m "message"'
    rows = [("NAME", "CREATED", "SIZE", "FILES", "STATUS", "MESSAGE")]
    for entry in report.checkpoints:
        rows.append(
            (
                entry.name,
                entry.created_at,
                human_size(entry.size_bytes),
                "" if entry.files is None else str(entry.files),
                entry.status,
                entry.message or "",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = [title]
    for row in rows:
        cells = [row[column].ljust(widths[column]) for column in range(5)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
    return "\n".join(lines)
