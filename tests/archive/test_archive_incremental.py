"""Incremental checkpoints: unchanged groups are copied compressed from the previous archive."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointSummary, writer

CHECKPOINTS = ".jellycell/checkpoints"


def embedded_summary(path: str) -> CheckpointSummary:
    with tarfile.open(path) as tar:
        body = tar.extractfile("checkpoint.json").read()  # type: ignore[union-attr]
    return CheckpointSummary.model_validate_json(body)


def test_an_unchanged_project_is_mostly_copied_and_still_verifies_and_restores(
    bulky_project: Path, tmp_path: Path, snapshot: Callable[..., dict]
) -> None:
    first = archive.create(bulky_project, name="first")
    second = archive.create(bulky_project, name="second")

    assert first.reused_bytes == 0
    assert second.reused_bytes > 0.9 * second.size_bytes
    assert second.files == first.files
    checked = archive.verify(bulky_project, "second")
    assert checked.ok, checked.problems
    assert checked.digests_checked
    restored = archive.restore(bulky_project, "second", into=tmp_path / "restored")
    assert snapshot(Path(restored.target)) == snapshot(bulky_project, exclude=(CHECKPOINTS,))


def test_after_one_change_only_that_group_is_compressed_again(
    bulky_project: Path, tmp_path: Path, snapshot: Callable[..., dict]
) -> None:
    archive.create(bulky_project, name="first")
    changed = bulky_project / "notebooks" / "notes" / "note-040.txt"
    changed.write_text("a new version of this note\n")

    second = archive.create(bulky_project, name="second")

    summary = embedded_summary(second.path)
    index = summary.index
    assert index is not None and summary.index_offset is not None
    row = next(
        number
        for number, entry in enumerate(index.entries)
        if entry[0] == changed.relative_to(bulky_project).as_posix()
    )
    group = next(g for g in index.groups if g[0] <= row < g[0] + g[1])
    recompressed = sum(member[1] for member in index.members[group[2] : group[2] + group[3]])
    assert len(index.groups) > 5
    assert second.reused_bytes == summary.index_offset - recompressed
    assert archive.verify(bulky_project, "second").ok

    restored = Path(archive.restore(bulky_project, "second", into=tmp_path / "r").target)
    assert (restored / "notebooks" / "notes" / "note-040.txt").read_text() == (
        "a new version of this note\n"
    )
    assert snapshot(restored) == snapshot(bulky_project, exclude=(CHECKPOINTS,))
    first = Path(archive.restore(bulky_project, "first", into=tmp_path / "old").target)
    assert (first / "notebooks" / "notes" / "note-040.txt").read_text() == "note 40\n" * 41


def test_a_changed_large_file_is_compressed_again_and_the_rest_copied(
    bulky_project: Path, tmp_path: Path
) -> None:
    archive.create(bulky_project, name="first")
    large = bulky_project / "data" / "large.bin"
    new_content = bytes(reversed(large.read_bytes()))
    large.write_bytes(new_content)

    second = archive.create(bulky_project, name="second")

    assert second.reused_bytes < 0.5 * second.size_bytes
    assert second.reused_bytes > 1_000_000
    restored = Path(archive.restore(bulky_project, "second", into=tmp_path / "r").target)
    assert (restored / "data" / "large.bin").read_bytes() == new_content


def test_copies_come_from_the_newest_good_checkpoint(bulky_project: Path, tmp_path: Path) -> None:
    archive.create(bulky_project, name="first")
    note = bulky_project / "notebooks" / "notes" / "note-001.txt"
    note.write_text("second state\n")
    archive.create(bulky_project, name="second")
    archive.delete(bulky_project, "first")

    third = archive.create(bulky_project, name="third")

    assert third.reused_bytes > 0.9 * third.size_bytes
    restored = Path(archive.restore(bulky_project, "third", into=tmp_path / "r").target)
    assert (restored / "notebooks" / "notes" / "note-001.txt").read_text() == "second state\n"


def test_a_damaged_previous_archive_is_not_copied_from(bulky_project: Path, tmp_path: Path) -> None:
    first = archive.create(bulky_project, name="first")
    data = bytearray(Path(first.path).read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    Path(first.path).write_bytes(bytes(data))

    second = archive.create(bulky_project, name="second")

    assert second.reused_bytes == 0
    # The flip keeps the size, so the listing cannot tell; what matters is that
    # the new archive is whole.
    checked = archive.verify(bulky_project, "second")
    assert checked.ok, checked.problems
    restored = Path(archive.restore(bulky_project, "second", into=tmp_path / "r").target)
    assert (restored / "data" / "large.bin").read_bytes() == (
        bulky_project / "data" / "large.bin"
    ).read_bytes()
    assert second.files == first.files


def index_rows_text(path: str) -> str:
    """The index rows as ``checkpoint.json`` holds them, as text."""
    with tarfile.open(path) as tar:
        text = tar.extractfile("checkpoint.json").read().decode()  # type: ignore[union-attr]
    rows = json.dumps(json.loads(text)["index"]["entries"], separators=(",", ":"))
    assert f'"entries":{rows}' in text
    return rows


def test_a_copy_writes_the_rows_the_previous_index_holds_even_read_in_small_batches(
    bulky_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names whose text holds the brackets and quotes that cut index rows apart.
    for name in ("a],[b.txt", 'q"],["x\\.txt', "\u00e9t\u00e9 ],[ 2.txt"):
        (bulky_project / "data" / name).write_text(name)
    os.symlink("a],[b.txt", bulky_project / "data" / "link ],[")
    first = archive.create(bulky_project, name="first")
    monkeypatch.setattr(writer, "_ROWS_TEXT", 40)  # a batch of a row or two

    second = archive.create(bulky_project, name="second")

    assert second.reused_bytes > 0.9 * second.size_bytes
    assert index_rows_text(second.path) == index_rows_text(first.path)
    assert archive.verify(bulky_project, "second").ok


def test_index_rows_are_read_back_whole_whatever_the_batch_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [
        ["a],[b", "file", 1, 2, 420, "0" * 64, 0, "1:2"],
        ['c"],["', "link", 0, 2, 511, "],[", 0, ""],
        ["d", "dir", 0, 3, 493, "", 1, ""],
    ]
    text = json.dumps(rows, separators=(",", ":")).encode()[1:] + b'},"size_bytes":   9}'
    for batch in (1, 7, 40, 1 << 20):
        monkeypatch.setattr(writer, "_ROWS_TEXT", batch)
        blocks = iter([text[i : i + 5] for i in range(5, len(text), 5)])
        read = [row for rows_read in writer._rows_of(text[:5], blocks) for row in rows_read]
        assert read == rows, batch
