"""Reading a large archive in runs of members, one process a run.

Every run must give what one pass gives, and anything a run cannot judge on
its own must send the archive back to one pass rather than through.
"""

from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointError, reader
from jellycell_jupyter.archive.extract import Outcome, Unfit

CHECKPOINTS = ".jellycell/checkpoints"


@pytest.fixture
def varied(project: Path) -> Path:
    """The hand-made project with links, deep folders, empty and multi-megabyte files."""
    rng = random.Random(7)
    deep = project / "data" / "a" / "b" / "c"
    deep.mkdir(parents=True)
    for number in range(40):
        (deep / f"f{number:02d}.txt").write_text(f"line {number}\n" * number)
    (project / "data" / "empty.txt").write_bytes(b"")
    (project / "data" / "big.bin").write_bytes(rng.randbytes(5 << 20))
    (project / "data" / "mid.bin").write_bytes(rng.randbytes(200_000))
    os.symlink("a/b", project / "data" / "short")
    os.symlink("../table.csv", project / "data" / "a" / "up")
    (project / "data" / "a" / "run.sh").write_text("#!/bin/sh\n")
    (project / "data" / "a" / "run.sh").chmod(0o755)
    return project


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many members each reading process was given, as processes start."""
    given: list[int] = []
    original = reader._Worker.send

    def counting(self: reader._Worker, path: Path, into: str | None, members: list) -> None:
        given.append(len(members))
        original(self, path, into, members)

    monkeypatch.setattr(reader._Worker, "send", counting)
    return given


def test_runs_restore_what_one_pass_restores(
    varied: Path,
    reading: str,
    started: list[int],
    snapshot: Callable[..., dict],
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = archive.create(varied, name="saved")

    with caplog.at_level(logging.DEBUG, logger="jellycell_jupyter.archive.reader"):
        report = archive.restore(varied, "saved", into=varied.parent / "back")

    assert report.files == made.files
    assert snapshot(varied.parent / "back") == snapshot(varied, exclude=(CHECKPOINTS,))
    mtime = (varied / "data" / "a" / "b").stat().st_mtime_ns // 10**9
    assert (varied.parent / "back" / "data" / "a" / "b").stat().st_mtime_ns // 10**9 == mtime
    if reading == "in runs":
        assert len(started) == 2 and all(started)
        assert "in one pass" not in caplog.text
    else:
        assert started == []


def test_runs_verify_a_sound_archive(varied: Path, reading: str, started: list[int]) -> None:
    archive.create(varied, name="saved")

    report = archive.verify(varied, "saved")

    assert report.ok and report.problems == [] and report.digests_checked
    assert len(started) == (2 if reading == "in runs" else 0)


def test_progress_in_runs_climbs_to_the_total(varied: Path, reading: str) -> None:
    made = archive.create(varied, name="saved")
    seen: list[archive.Progress] = []

    archive.restore(varied, "saved", into=varied.parent / "back", progress=seen.append)

    assert seen[-1].files_done == seen[-1].files_total == made.files
    assert seen[-1].bytes_done == seen[-1].bytes_total == made.size_bytes
    assert [step.files_done for step in seen] == sorted(step.files_done for step in seen)


@pytest.mark.parametrize("program", ["/bin/false", "/nonexistent/python"])
def test_a_process_that_cannot_read_its_run_leaves_it_to_one_pass(
    varied: Path,
    reading: str,
    program: str,
    monkeypatch: pytest.MonkeyPatch,
    snapshot: Callable[..., dict],
    caplog: pytest.LogCaptureFixture,
) -> None:
    archive.create(varied, name="saved")
    monkeypatch.setattr(sys, "executable", program)

    with caplog.at_level(logging.DEBUG, logger="jellycell_jupyter.archive.reader"):
        archive.restore(varied, "saved", into=varied.parent / "back")

    assert snapshot(varied.parent / "back") == snapshot(varied, exclude=(CHECKPOINTS,))
    assert ("in one pass" in caplog.text) == (reading == "in runs")


def test_a_damaged_member_of_a_later_run_is_damage(varied: Path, reading: str) -> None:
    made = archive.create(varied, name="saved")
    index = reader.read_sidecar(Path(made.path))
    assert index is not None and index.index_offset
    data = bytearray(Path(made.path).read_bytes())
    data[index.index_offset - 40] ^= 0x10  # inside the last data member, another run's
    Path(made.path).write_bytes(bytes(data))

    with pytest.raises(CheckpointError) as caught:
        archive.restore(varied, "saved", into=varied.parent / "back")

    assert caught.value.kind == "damaged"
    assert not (varied.parent / "back").exists()
    assert [p.name for p in varied.parent.iterdir() if p.name.startswith(".back")] == []


def outcome(kinds: dict[str, str], links: dict[str, str] | None = None) -> Outcome:
    files = sum(kind != "dir" for kind in kinds.values())
    digests = {name: "0" * 64 for name, kind in kinds.items() if kind == "file"}
    return Outcome(files, None, digests, dict(kinds), dict(links or {}), [])


def test_runs_that_agree_combine() -> None:
    whole = reader._combine(
        Path("x.tar.gz"),
        [
            outcome({"d": "dir", "d/a": "file", "l": "link"}, {"l": "d/a"}),
            outcome({"d": "dir", "d/b": "file"}),
        ],
    )

    assert whole.files == 3
    assert whole.kinds == {"d": "dir", "d/a": "file", "l": "link", "d/b": "file"}
    assert whole.links == {"l": "d/a"}


@pytest.mark.parametrize(
    "runs",
    [
        [{"a": "file"}, {"a": "file"}],  # one pass lets the later replace the earlier
        [{"a": "file"}, {"a": "dir", "a/b": "file"}],
        [{"a": "dir"}, {"a": "link"}],
        [{"x": "link"}, {"x": "dir", "x/f": "file"}],
    ],
    ids=["same-file", "file-and-folder", "folder-and-link", "file-through-link"],
)
def test_runs_that_disagree_go_back_to_one_pass(runs: list[dict[str, str]]) -> None:
    parts = [
        outcome(kinds, {name: "t" for name, kind in kinds.items() if kind == "link"})
        for kinds in runs
    ]

    with pytest.raises(Unfit):
        reader._combine(Path("x.tar.gz"), parts)


def test_a_chain_of_links_across_runs_that_leads_out_is_refused() -> None:
    parts = [
        outcome({"a": "link"}, {"a": "x/up/.."}),
        outcome({"x": "dir", "x/up": "link"}, {"x/up": ".."}),
    ]

    with pytest.raises(CheckpointError, match="leads out of the target"):
        reader._combine(Path("x.tar.gz"), parts)
