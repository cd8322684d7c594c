"""A large create shares its last groups with a helper process.

The archive must be byte for byte the one a create alone writes, and
anything that goes wrong with the helper must neither lose nor change it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointError, helpers, reader, walk, writer
from jellycell_jupyter.archive.walk import Walked

CHECKPOINTS = ".jellycell/checkpoints"


@pytest.fixture
def helped(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every create takes a helper, every entry is a group; counts the entries handed over."""
    monkeypatch.setattr(writer, "HELPER_FROM", 0.0)
    monkeypatch.setattr(writer, "_HELPER_START", 0.0)
    monkeypatch.setattr(writer, "HELPER_ENTRIES", 10)  # started early, during the walk
    monkeypatch.setattr(writer, "GROUP_SPREAD", 1)
    handed: list[int] = []
    original = writer.ArchiveWriter._start_helper

    def counting(self: writer.ArchiveWriter, walked: Walked, groups: list) -> helpers.Helper:
        handed.append(sum(stop - start for start, stop, _ in groups))
        return original(self, walked, groups)

    monkeypatch.setattr(writer.ArchiveWriter, "_start_helper", counting)
    return handed


@pytest.fixture
def varied(project: Path) -> Path:
    """The hand-made project with many files, a multi-megabyte one and a link."""
    rng = random.Random(11)
    notes = project / "notebooks" / "notes"
    notes.mkdir()
    for number in range(120):
        (notes / f"n{number:03d}.md").write_text(f"note {number}\n" * number)
    (project / "data" / "big.bin").write_bytes(rng.randbytes(3 << 20))
    os.symlink("../../data/table.csv", notes / "table")
    return project


def data_part(report: archive.CheckpointCreateReport) -> bytes:
    """The archive's bytes before its ``checkpoint.json``."""
    path = Path(report.path)
    offset = json.loads(path.with_name(f"{report.name}.json").read_text())["index_offset"]
    return path.read_bytes()[:offset]


def leftovers(project: Path) -> list[str]:
    return sorted(p.name for p in (project / CHECKPOINTS).iterdir() if p.name.startswith("."))


def index_text(report: archive.CheckpointCreateReport) -> str:
    """The index rows of ``checkpoint.json``, as the text the archive holds."""
    with tarfile.open(report.path) as tar:
        member = tar.extractfile("checkpoint.json")
        assert member is not None
        text = member.read().decode()
    rows = json.dumps(json.loads(text)["index"]["entries"], separators=(",", ":"))
    assert f'"entries":{rows}' in text
    return rows


def test_a_helped_create_writes_the_bytes_a_create_alone_writes(
    varied: Path, helped: list[int], snapshot: Callable[..., dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names the index must escape, among the helper's groups and this process's.
    for folder in ("notebooks/notes", "data"):
        (varied / folder / 'r\u00e9sum\u00e9 "q" \\ \x01.md').write_text("escaped\n")
    os.symlink('r\u00e9sum\u00e9 "q" \\ \x01.md', varied / "data" / "\u00fcber-link")
    with_help = archive.create(varied, name="with-help")
    entries = len(snapshot(varied, exclude=(CHECKPOINTS,)))
    assert len(helped) == 1 and 0 < helped[0] < entries

    monkeypatch.setattr(writer, "HELPER_FROM", float("inf"))
    alone = archive.create(varied, name="alone")

    assert len(helped) == 1
    assert data_part(with_help) == data_part(alone)
    assert index_text(with_help) == index_text(alone)
    assert with_help.files == alone.files
    assert archive.verify(varied, "with-help").ok
    restored = archive.restore(varied, "with-help", into=varied.parent / "back")
    assert snapshot(Path(restored.target)) == snapshot(varied, exclude=(CHECKPOINTS,))
    assert leftovers(varied) == []


@pytest.mark.parametrize("chunk", [1, 7])
def test_a_walk_spooled_in_small_chunks_gives_the_same_archive(
    varied: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    usual = archive.create(varied, name="usual")
    # Groups of the usual spread, so that many of them span chunks, shared with a helper.
    monkeypatch.setattr(walk, "CHUNK", chunk)
    monkeypatch.setattr(writer, "HELPER_FROM", 0.0)
    monkeypatch.setattr(writer, "_HELPER_START", 0.0)

    small = archive.create(varied, name="small")

    assert data_part(small) == data_part(usual)
    assert index_text(small) == index_text(usual)
    assert archive.verify(varied, "small").ok
    assert leftovers(varied) == []


def test_a_helped_create_copies_unchanged_groups(varied: Path, helped: list[int]) -> None:
    first = archive.create(varied, name="first")
    (varied / "notebooks" / "notes" / "n119.md").write_text("changed\n")

    second = archive.create(varied, name="second")

    assert len(helped) == 2
    assert 0 < second.reused_bytes < first.size_bytes
    assert archive.verify(varied, "second").ok
    restored = Path(archive.restore(varied, "second", into=varied.parent / "back").target)
    assert (restored / "notebooks" / "notes" / "n119.md").read_text() == "changed\n"


@pytest.mark.parametrize("program", ["/bin/false", "/nonexistent/python"])
def test_without_a_working_helper_the_create_does_it_all(
    varied: Path,
    helped: list[int],
    program: str,
    monkeypatch: pytest.MonkeyPatch,
    snapshot: Callable[..., dict],
) -> None:
    monkeypatch.setattr(sys, "executable", program)

    made = archive.create(varied, name="alone")

    assert len(helped) == 1
    tree = snapshot(varied, exclude=(CHECKPOINTS,))
    assert made.files == sum(1 for kind, *_ in tree.values() if kind != "dir")
    assert archive.verify(varied, "alone").ok
    assert leftovers(varied) == []


def test_what_the_helper_cannot_read_fails_the_create_as_it_would_alone(
    varied: Path, refuse_to_open: Callable[[str], None]
) -> None:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the test's process)
    walked = writer.scan_project(archive.load_project(varied), spool=spool.fileno()).entries
    refuse_to_open(next(e.path for e in walked if e.name.endswith("n100.md")))
    request = {
        "rows": str(varied.parent / "helped.partial-index"),
        "walked": walked,
        "groups": [(number, number + 1, 0) for number in range(len(walked))],
        "previous": None,
        "output": str(varied.parent / "helped.partial"),
        "sqlite_scratch": str(varied.parent / "scratch"),
    }

    status, data = writer.write_helped(request, lambda files, done: None, lambda: 0)

    assert status == "refused"
    assert "n100.md" in data[0] and data[1] == "environment"
    with pytest.raises(CheckpointError, match=r"n100\.md"):
        writer.ArchiveWriter._helper_failed(None, (status, data))  # type: ignore[arg-type]


def test_a_helper_that_is_told_nothing_exits_quietly() -> None:
    helper = helpers.Helper("jellycell_jupyter.archive.pack")
    assert helper.process is not None
    assert helper.process.stdin is not None
    helper.process.stdin.close()

    assert helper.process.wait(timeout=30) == 0
    helper.stop()


def test_helpers_import_nothing_from_the_current_folder(
    varied: Path,
    helped: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A project or a restored checkpoint may hold any module; helpers must not run it."""
    marker = tmp_path / "imported"
    shadow = tmp_path / "shadow"
    (shadow / "jellycell_jupyter").mkdir(parents=True)
    planted = f"open({str(marker)!r}, 'a').write(__name__)\n"
    (shadow / "jellycell_jupyter" / "__init__.py").write_text(planted)
    (shadow / "queue.py").write_text(planted)
    monkeypatch.chdir(shadow)
    for name, value in [("PARALLEL_BYTES", 0), ("PARALLEL_FILES", 0), ("_HELPER_START", 0.0)]:
        monkeypatch.setattr(reader, name, value)

    archive.create(varied, name="here")
    with caplog.at_level(logging.DEBUG, logger="jellycell_jupyter.archive.reader"):
        archive.restore(varied, "here", into=tmp_path / "back")

    assert len(helped) == 1
    assert "in one pass" not in caplog.text
    assert not marker.exists()


def test_a_helper_started_early_but_not_needed_is_stopped(
    varied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "HELPER_ENTRIES", 10)
    monkeypatch.setattr(writer, "HELPER_FROM", float("inf"))
    started: list[helpers.Helper] = []
    original = helpers.Helper.__init__

    def recording(self: helpers.Helper, module: str, **how: Any) -> None:
        original(self, module, **how)
        started.append(self)

    monkeypatch.setattr(helpers.Helper, "__init__", recording)

    archive.create(varied, name="alone")

    assert len(started) == 1
    process = started[0].process
    assert process is not None and process.returncode is not None  # ended and reaped
    assert archive.verify(varied, "alone").ok
    assert leftovers(varied) == []
