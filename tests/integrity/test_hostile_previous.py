"""A previous checkpoint whose index is damaged or made up: the next create copies only
what the index and the archive's sha256 vouch for, and what it writes restores exactly.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import writer
from jellycell_jupyter.archive.tarformat import END_OF_ARCHIVE, REGULAR, header, padding

CHECKPOINTS = ".jellycell/checkpoints"


def rewrite_index(project: Path, name: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit checkpoint ``name``'s ``checkpoint.json``; the sidecar keeps up (size, sha256)."""
    folder = project / CHECKPOINTS
    sidecar = json.loads((folder / f"{name}.json").read_text())
    data = (folder / f"{name}.tar.gz").read_bytes()
    offset = sidecar["index_offset"]
    tail = gzip.decompress(data[offset:])
    length = int(tail[124:136].split(b"\0")[0], 8)
    summary = json.loads(tail[512 : 512 + length])
    edit(summary)
    body = json.dumps(summary, separators=(",", ":")).encode()
    member = header("checkpoint.json", REGULAR, len(body), 0, 0o644) + body
    data = data[:offset] + gzip.compress(member + bytes(padding(len(body))) + END_OF_ARCHIVE)
    (folder / f"{name}.tar.gz").write_bytes(data)
    sidecar.update(size_bytes=len(data), archive_sha256=hashlib.sha256(data).hexdigest())
    (folder / f"{name}.json").write_text(json.dumps(sidecar))


def rows(summary: dict[str, Any]) -> list[list[Any]]:
    entries: list[list[Any]] = summary["index"]["entries"]
    return entries


def each_row(change: Callable[[list[Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda summary: [change(row) for row in rows(summary)]


def each_member(change: Callable[[list[Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda summary: [change(member) for member in summary["index"]["members"]]


def each_group(change: Callable[[list[Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda summary: [change(group) for group in summary["index"]["groups"]]


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "member numbers below their group's": each_row(lambda row: row.__setitem__(6, -5)),
    "member numbers past every member": each_row(lambda row: row.__setitem__(6, 10**12)),
    "member numbers that are true": each_row(lambda row: row.__setitem__(6, True)),
    "members a number": lambda summary: summary["index"].__setitem__("members", 5),
    "members missing": lambda summary: summary["index"].pop("members"),
    "offsets as text": each_member(lambda member: member.__setitem__(0, "a")),
    "negative lengths": each_member(lambda member: member.__setitem__(1, -1)),
    "negative offsets": each_member(lambda member: member.__setitem__(0, -100)),
    "tar lengths as text": each_member(lambda member: member.__setitem__(3, "x")),
    "groups missing": lambda summary: summary["index"].pop("groups"),
    "groups' first members shifted": each_group(lambda group: group.__setitem__(2, 10**6)),
    "groups of minus one member": each_group(lambda group: group.__setitem__(3, -1)),
    "groups of one member more": each_group(lambda group: group.__setitem__(3, group[3] + 1)),
    "groups of no members": each_group(lambda group: group.__setitem__(3, 0)),
    "entries a mapping": lambda summary: summary["index"].__setitem__("entries", {}),
    "names as numbers": each_row(lambda row: row.__setitem__(0, 5)),
    "times as floats": each_row(lambda row: row.__setitem__(3, float(row[3]))),
    "a huge string": each_row(lambda row: row.__setitem__(5, row[5] + "x" * 1000)),
}


@pytest.fixture
def varied(project: Path) -> Path:
    """The shared project with two hundred more files, in several groups."""
    for number in range(200):
        (project / "data" / f"f{number:03d}.txt").write_text(f"content {number} " * number)
    return project


def restores_exactly(
    project: Path, name: str, tmp_path: Path, snapshot: Callable[..., Any]
) -> bool:
    checked = archive.verify(project, name)
    assert checked.ok, checked.problems
    restored = archive.restore(project, name, into=tmp_path / f"restored-{name}")
    return bool(snapshot(Path(restored.target)) == snapshot(project, exclude=(CHECKPOINTS,)))


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_made_up_index_is_not_copied_from_and_the_next_create_is_whole(
    varied: Path, tmp_path: Path, snapshot: Callable[..., Any], edit: Callable[..., None]
) -> None:
    archive.create(varied, name="one")
    rewrite_index(varied, "one", edit)

    two = archive.create(varied, name="two")

    assert two.reused_bytes == 0
    assert restores_exactly(varied, "two", tmp_path, snapshot)


def test_a_changed_index_without_a_new_sha256_is_not_copied_from(
    varied: Path, tmp_path: Path, snapshot: Callable[..., Any]
) -> None:
    archive.create(varied, name="one")
    sidecar = (varied / CHECKPOINTS / "one.json").read_text()

    def wrong_digest(summary: dict[str, Any]) -> None:
        file_row = next(row for row in rows(summary) if row[1] == "file")
        file_row[5] = "0" * 64

    rewrite_index(varied, "one", wrong_digest)
    recorded = json.loads(sidecar)["archive_sha256"]
    data = json.loads((varied / CHECKPOINTS / "one.json").read_text())
    (varied / CHECKPOINTS / "one.json").write_text(json.dumps({**data, "archive_sha256": recorded}))

    two = archive.create(varied, name="two")

    assert two.reused_bytes == 0
    assert restores_exactly(varied, "two", tmp_path, snapshot)


def test_an_untouched_index_is_copied_from(
    varied: Path, tmp_path: Path, snapshot: Callable[..., Any]
) -> None:
    archive.create(varied, name="one")
    rewrite_index(varied, "one", lambda summary: None)  # the same index, written anew

    two = archive.create(varied, name="two")

    assert two.reused_bytes > 0
    assert restores_exactly(varied, "two", tmp_path, snapshot)


def test_index_rows_with_many_brackets_in_names_are_read_in_linear_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[int] = []
    real_loads = json.loads

    def counting(text: Any) -> Any:
        tried.append(len(text))
        return real_loads(text)

    name = "],[" * 80
    made = [[f"{name}/{number}", "file", 1, 2, 420, "0" * 64, 0, "1:2"] for number in range(400)]
    text = json.dumps(made, separators=(",", ":")).encode()[1:] + b'},"size_bytes":   9}'
    monkeypatch.setattr(writer.json, "loads", counting)

    read = [row for batch in writer._rows_of(b"", iter([text])) for row in batch]

    assert read == made
    assert sum(tried) < 3 * len(text)  # each row's text is parsed about once, not once a bracket


def test_json_nested_too_deeply_is_damage_not_a_crash(
    varied: Path, tmp_path: Path, snapshot: Callable[..., Any]
) -> None:
    archive.create(varied, name="one")
    sidecar = varied / CHECKPOINTS / "one.json"
    sidecar.write_text(
        sidecar.read_text().rstrip()[:-1] + ', "deep": ' + "[" * 200_000 + "]" * 200_000 + "}"
    )

    listed = archive.list_checkpoints(varied).checkpoints
    two = archive.create(varied, name="two")

    assert [entry.name for entry in listed] == ["one"]
    assert two.files > 0
    assert restores_exactly(varied, "two", tmp_path, snapshot)


def test_a_folder_named_like_a_leftover_does_not_stop_the_sweep(varied: Path) -> None:
    folder = varied / CHECKPOINTS
    folder.mkdir(parents=True)
    (folder / ".w.tar.gz.partial").mkdir()
    (folder / ".w.index.partial").write_text("left")

    archive.create(varied, name="one")

    assert (folder / ".w.tar.gz.partial").is_dir()
    assert not (folder / ".w.index.partial").exists()


def test_copies_come_from_the_file_that_was_checked_even_if_another_takes_its_name(
    varied: Path, tmp_path: Path, snapshot: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.create(varied, name="one")
    stranger = tmp_path / "stranger"
    (stranger / "data").mkdir(parents=True)
    (stranger / "jellycell.toml").write_text('[project]\nname = "stranger"\n')
    (stranger / "data" / "other.txt").write_text("other " * 50_000)
    other = Path(archive.create(stranger, name="one").path)
    real_digest = writer._digest_previous

    def swapped_meanwhile(path: Path, index: dict[str, Any]) -> Any:
        digested = real_digest(path, index)
        other.replace(path)  # another archive takes the name while the copy goes on
        return digested

    monkeypatch.setattr(writer, "_digest_previous", swapped_meanwhile)

    two = archive.create(varied, name="two")

    assert two.reused_bytes > 0
    assert restores_exactly(varied, "two", tmp_path, snapshot)
