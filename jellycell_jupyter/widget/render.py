"""A checkpoint list report in human words: sizes, times, an HTML table and a text summary."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from ..archive import CheckpointListEntry, CheckpointListReport
from ..text import human_size

EMPTY_HINT = (
    'No checkpoints yet. Make one with <code>%checkpoint -m "message"</code>, '
    "or type a message and click <b>Create</b>."
)
EMPTY_HINT_TEXT = 'No checkpoints yet. Make one with %checkpoint -m "message".'
NO_PROJECT_HINT = (
    "Run <code>jellycell init</code> in a terminal to make a project here, or open a "
    "notebook inside one (a folder holding <code>jellycell.toml</code>)."
)
NO_PROJECT_HINT_TEXT = (
    "Run 'jellycell init' to make a project here, or open a notebook inside one "
    "(a folder holding jellycell.toml)."
)

COLUMNS = ("name", "created", "size", "files", "message", "status")


def parse_created(created_at: str) -> datetime | None:
    """The moment of an ISO 8601 ``created_at``, as an aware datetime; ``None`` if unreadable."""
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(created_at: str) -> str:
    """``created_at`` in this machine's time zone, ``YYYY-MM-DD HH:MM:SS``."""
    moment = parse_created(created_at)
    if moment is None:
        return created_at
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def time_ago(created_at: str, now: datetime | None = None) -> str:
    """How long ago ``created_at`` was: ``just now``, ``3 minutes ago``, ``2 days ago``."""
    moment = parse_created(created_at)
    if moment is None:
        return "unknown time"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < -60:
        return "in the future (clocks disagree)"
    if seconds < 45:
        return "just now"
    for limit, size, unit in (
        (45 * 60, 60, "minute"),
        (22 * 3600, 3600, "hour"),
        (26 * 86400, 86400, "day"),
        (320 * 86400, 30 * 86400, "month"),
    ):
        if seconds < limit:
            return _ago(round(seconds / size), unit)
    return _ago(round(seconds / (365 * 86400)), "year")


def _ago(count: int, unit: str) -> str:
    count = max(1, count)
    if count == 1:
        return f"an {unit} ago" if unit == "hour" else f"a {unit} ago"
    return f"{count} {unit}s ago"


def project_title(report: CheckpointListReport) -> str:
    """The project's name, or its folder's name for reports that do not carry one."""
    return report.project_name or Path(report.project).name


def status_words(entry: CheckpointListEntry) -> str:
    """``ok``, or the status and what is wrong, e.g. ``damaged: archive is 10 bytes, ...``."""
    if entry.status == "ok":
        return "ok"
    return f"{entry.status}: {entry.problem}" if entry.problem else entry.status


def files_words(entry: CheckpointListEntry) -> str:
    """The file count, or a dash when the checkpoint does not say."""
    return "-" if entry.files is None else str(entry.files)


def render_list_html(report: CheckpointListReport, now: datetime | None = None) -> str:
    """The report as an HTML table, newest first, for outputs shown without widgets."""
    title = html.escape(project_title(report))
    folder = html.escape(report.project)
    count = len(report.checkpoints)
    parts = [
        '<div class="jellycell-checkpoints">',
        f"<p><b>Checkpoints of project {title}</b> in <code>{folder}</code>"
        f" — {count} checkpoint{'' if count == 1 else 's'}</p>",
    ]
    if not report.checkpoints:
        parts.append(f"<p>{EMPTY_HINT}</p></div>")
        return "\n".join(parts)

    parts.append("<table>")
    parts.append(
        "<thead><tr>" + "".join(f"<th>{column}</th>" for column in COLUMNS) + "</tr></thead>"
    )
    parts.append("<tbody>")
    parts.extend(_html_row(entry, now) for entry in report.checkpoints)
    parts.append("</tbody></table></div>")
    return "\n".join(parts)


def _html_row(entry: CheckpointListEntry, now: datetime | None) -> str:
    status = html.escape(status_words(entry))
    if entry.status != "ok":
        status = f'<b style="color: #c62828">⚠ {status}</b>'
    cells = (
        f"<code>{html.escape(entry.name)}</code>",
        f"{html.escape(local_time(entry.created_at))} "
        f"({html.escape(time_ago(entry.created_at, now))})",
        human_size(entry.size_bytes),
        files_words(entry),
        html.escape(entry.message or ""),
        status,
    )
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render_list_text(report: CheckpointListReport, now: datetime | None = None) -> str:
    """The report as plain text: a title line, then one line per checkpoint, newest first."""
    count = len(report.checkpoints)
    lines = [
        f"Checkpoints of project {project_title(report)} in {report.project}"
        f" — {count} checkpoint{'' if count == 1 else 's'}"
    ]
    if not report.checkpoints:
        lines.append(EMPTY_HINT_TEXT)
        return "\n".join(lines)

    for entry in report.checkpoints:
        line = (
            f"  {entry.name}  {local_time(entry.created_at)} ({time_ago(entry.created_at, now)})"
            f"  {human_size(entry.size_bytes)}  {files_words(entry)} files"
        )
        if entry.message:
            line += f"  {entry.message}"
        if entry.status != "ok":
            line += f"  [{status_words(entry)}]"
        lines.append(line)
    return "\n".join(lines)


def render_no_project_html(problem: str) -> str:
    """What to show instead of a list when the start path is not inside a project."""
    return (
        '<div class="jellycell-checkpoints"><p><b>Not inside a jellycell project.</b> '
        f"{NO_PROJECT_HINT}</p><p>{html.escape(problem)}</p></div>"
    )


def render_no_project_text(problem: str) -> str:
    """The plain-text twin of :func:`render_no_project_html`."""
    return f"Not inside a jellycell project. {NO_PROJECT_HINT_TEXT}\n{problem}"
