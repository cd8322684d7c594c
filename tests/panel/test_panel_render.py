"""The panel's words: sizes, times, and the HTML and text fallbacks of a list report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from jellycell_jupyter.archive import CheckpointListEntry, CheckpointListReport, Progress
from jellycell_jupyter.widget import human_size, progress_bar, render_list_html, render_list_text
from jellycell_jupyter.widget.render import local_time, time_ago

NOW = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)


def entry(name: str, minutes_ago: float, **fields: object) -> CheckpointListEntry:
    created = (NOW - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")
    values: dict[str, object] = {
        "name": name,
        "path": f"/p/.jellycell/checkpoints/{name}.tar.gz",
        "created_at": created,
        "size_bytes": 1708,
        "files": 9,
        "message": None,
    }
    values.update(fields)
    return CheckpointListEntry.model_validate(values)


class TableCells(HTMLParser):
    """Collects the text of every table row, cell by cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self.in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data: str) -> None:
        if self.in_cell:
            self.rows[-1][-1] += data


def table_of(markup: str) -> list[list[str]]:
    parser = TableCells()
    parser.feed(markup)
    return parser.rows


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (0, "0 B"),
        (754, "754 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (1708, "1.67 KiB"),
        (20 * 1024**2, "20.0 MiB"),
        (150 * 1024, "150 KiB"),
        (10235, "10.0 KiB"),  # rounding up to the next decade drops a digit
        (102399, "100 KiB"),
        (1048575, "1.00 MiB"),  # and up to 1024 of a unit, moves to the next
        (1024**3 - 1, "1.00 GiB"),
        (5 * 1024**3 // 2, "2.50 GiB"),
        (3 * 1024**5, "3.00 PiB"),
        (4096 * 1024**5, "4096 PiB"),
    ],
)
def test_human_size(size: int, words: str) -> None:
    assert human_size(size) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (5, "just now"),
        (-30, "just now"),
        (61, "a minute ago"),
        (3 * 60 + 10, "3 minutes ago"),
        (60 * 60, "an hour ago"),
        (5 * 3600, "5 hours ago"),
        (30 * 3600, "a day ago"),
        (3 * 86400, "3 days ago"),
        (90 * 86400, "3 months ago"),
        (800 * 86400, "2 years ago"),
        (-3600, "in the future (clocks disagree)"),
    ],
)
def test_time_ago(seconds: int, words: str) -> None:
    created = (NOW - timedelta(seconds=seconds)).isoformat(timespec="seconds")
    assert time_ago(created, NOW) == words


def test_unreadable_times_are_shown_as_given() -> None:
    assert time_ago("yesterday-ish", NOW) == "unknown time"
    assert local_time("yesterday-ish") == "yesterday-ish"


def test_naive_times_are_read_as_utc() -> None:
    assert time_ago("2025-03-10T11:57:00", NOW) == "3 minutes ago"


def test_html_table_lists_checkpoints_newest_first_and_marks_damage() -> None:
    report = CheckpointListReport(
        project="/work/demo",
        project_name="demo",
        checkpoints=[
            entry("second", 3, message="after <b>cleanup</b>"),
            entry("first", 60 * 24 * 2, status="damaged", problem="archive is 10 bytes"),
            entry("odd", 60, status="incomplete", files=None, problem=None),
        ],
    )
    markup = render_list_html(report, NOW)

    rows = table_of(markup)
    assert rows[0] == ["name", "created", "size", "files", "message", "status"]
    assert [row[0] for row in rows[1:]] == ["second", "first", "odd"]
    assert rows[1][1].endswith("(3 minutes ago)")
    assert rows[1][1].startswith(local_time(report.checkpoints[0].created_at))
    assert rows[1][2:] == ["1.67 KiB", "9", "after <b>cleanup</b>", "ok"]
    assert rows[2][5] == "⚠ damaged: archive is 10 bytes"
    assert rows[3][3] == "-"
    assert rows[3][5] == "⚠ incomplete"
    assert "<b>cleanup</b>" not in markup
    assert "Checkpoints of project demo" in markup
    assert "/work/demo" in markup


def test_text_summary_has_one_line_per_checkpoint() -> None:
    report = CheckpointListReport(
        project="/work/demo",
        checkpoints=[
            entry("second", 3, message="after cleanup"),
            entry("first", 5, status="damaged", problem="archive is 10 bytes"),
        ],
    )
    lines = render_list_text(report, NOW).splitlines()

    assert lines[0] == "Checkpoints of project demo in /work/demo — 2 checkpoints"
    assert lines[1].split() == [
        "second",
        *local_time(report.checkpoints[0].created_at).split(),
        "(3",
        "minutes",
        "ago)",
        "1.67",
        "KiB",
        "9",
        "files",
        "after",
        "cleanup",
    ]
    assert lines[2].startswith("  first  ")
    assert lines[2].endswith("[damaged: archive is 10 bytes]")
    assert len(lines) == 3


def test_empty_report_says_how_to_make_a_checkpoint() -> None:
    report = CheckpointListReport(project="/work/demo", project_name="demo")

    markup = render_list_html(report, NOW)
    text = render_list_text(report, NOW)

    assert "<table" not in markup
    assert "No checkpoints yet" in markup
    assert "%checkpoint -m" in markup
    assert text.splitlines() == [
        "Checkpoints of project demo in /work/demo — 0 checkpoints",
        'No checkpoints yet. Make one with %checkpoint -m "message".',
    ]


def test_progress_bar_follows_the_callback() -> None:
    view, callback = progress_bar("Creating checkpoint")

    callback(Progress("archive", 1, 4, 512, 2048))
    assert view.bar.value == 250
    assert view.label.value == "archiving: 1 of 4 files, 512 B of 2.00 KiB"

    callback(Progress("scan", 3, 0, 0, 0))
    assert view.bar.value == 0
    assert view.label.value == "scanning: 3 of 0 files"

    view.finish("Created checkpoint x.")
    assert (view.bar.value, view.bar.bar_style) == (view.bar.max, "success")
    assert view.label.value == "Created checkpoint x."

    view.finish("it broke", failed=True)
    assert view.bar.bar_style == "danger"
