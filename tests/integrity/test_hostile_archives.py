"""Hostile and damaged archives placed as checkpoints: restore refuses cleanly, verify fails.

"Cleanly" means one line of error, nothing written anywhere (the whole test
folder is compared before and after), no target, no staging folder, and no
parent folder of the target left behind.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_archives import (
    HOSTILE,
    Hostile,
    edit_index,
    folder,
    gz,
    many_empty_files,
    place,
    regular,
    rewrite_members,
    summary_for,
    tar_of,
)
from integrity_projects import MountFactory
from integrity_trees import comparable_state, describe_difference, tree_state

from jellycell_jupyter import archive
from jellycell_jupyter.archive.writer import read_index

pytestmark = pytest.mark.usefixtures("reading")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """The test's folder, with a file an escaping member might try to reach."""
    (tmp_path / "sentinel.txt").write_text("must stay as it is\n")
    return tmp_path


def checkpoints_of(project: Path) -> Path:
    """The project's checkpoints folder."""
    return project / ".jellycell" / "checkpoints"


def assert_refused_cleanly(tmp_path: Path, project: Path, name: str) -> str:
    """Restore and verify ``name``; both must fail without a trace. Returns the error."""
    target = tmp_path / "a" / "b" / "c" / "restores" / name
    before = tree_state(tmp_path)
    with pytest.raises(archive.CheckpointError) as caught:
        archive.restore(project, name, into=target)
    error = caught.value
    assert error.message and "\n" not in error.message
    assert error.kind == "damaged", f"{error.kind}: {error}"
    after = tree_state(tmp_path)
    assert after == before, describe_difference(before, after)

    report = archive.verify(project, name)
    assert not report.ok
    assert report.problems and all(problem for problem in report.problems)
    assert name in {entry.name for entry in archive.list_checkpoints(project).checkpoints}
    return error.message


@pytest.mark.parametrize("with_sidecar", [True, False], ids=["sidecar", "no-sidecar"])
@pytest.mark.parametrize("hostile", HOSTILE, ids=[hostile.case for hostile in HOSTILE])
def test_hostile_archive_is_refused(
    hostile: Hostile, with_sidecar: bool, project: Path, outside: Path
) -> None:
    data = hostile.build(outside)
    place(checkpoints_of(project), hostile.case, data, summary_for(data) if with_sidecar else None)
    assert_refused_cleanly(outside, project, hostile.case)


@pytest.mark.slow
def test_two_hundred_thousand_members_then_an_escape(
    project: Path, outside: Path, mount_tmpfs: MountFactory
) -> None:
    """Every member is processed, the last one is refused, and everything written goes again.

    The names repeat every 5,000 members, so the restore writes and replaces
    files all along without making 200,000 of them, and the target lies on a
    tmpfs where this machine allows one: both keep this test short.
    """
    mount_tmpfs(outside / "a", "256m", required=False)
    data = many_empty_files(200_000, regular("../escaped.txt"), distinct=5_000)
    place(checkpoints_of(project), "many", data, None)
    message = assert_refused_cleanly(outside, project, "many")
    assert "../escaped.txt" in message


def test_many_members_restore_when_nothing_is_wrong(project: Path, outside: Path) -> None:
    """The control for the test above: the same shape without the escape restores."""
    place(checkpoints_of(project), "many", many_empty_files(2_000, None), None)
    report = archive.restore(project, "many", into=outside / "restored")
    assert report.files == 2_000
    assert len(os.listdir(outside / "restored" / "many")) == 2_000


# -- damage done to a real archive ------------------------------------------------------


@pytest.fixture
def good(project: Path) -> tuple[bytes, str, list[list[int]]]:
    """A real checkpoint's bytes, its sidecar text and its gzip members; then removed again."""
    archive.create(project, name="good")
    folder = checkpoints_of(project)
    index = read_index(folder / "good.tar.gz")
    assert index is not None
    data = (folder / "good.tar.gz").read_bytes()
    sidecar = (folder / "good.json").read_text()
    archive.delete(project, "good")
    return data, sidecar, index["members"]


def _place_variant(project: Path, name: str, data: bytes, sidecar: str | None) -> None:
    folder = checkpoints_of(project)
    (folder / f"{name}.tar.gz").write_bytes(data)
    if sidecar is not None:
        (folder / f"{name}.json").write_text(sidecar)


def _flip_offsets(size: int, members: list[list[int]]) -> dict[str, int]:
    """Offsets whose damage gzip itself must notice: magic, deflate data, trailers."""
    first_offset, first_length = members[0][0], members[0][1]
    middle = members[len(members) // 2]
    return {
        "gzip-magic": 1,
        "gzip-flags": 3,
        "first-member-data": first_offset + 10 + (first_length - 18) // 2,
        "first-member-crc": first_offset + first_length - 7,
        "middle-member-data": middle[0] + 10 + (middle[1] - 18) // 2,
        "tail-data": size - 40,
        "last-crc": size - 8,
        "last-isize": size - 2,
    }


@pytest.mark.parametrize("with_sidecar", [True, False], ids=["sidecar", "no-sidecar"])
def test_bit_flips_are_noticed(
    with_sidecar: bool, good: tuple[bytes, str, list[list[int]]], project: Path, outside: Path
) -> None:
    data, sidecar, members = good
    offsets = _flip_offsets(len(data), members)
    for case, offset in offsets.items():
        damaged = bytearray(data)
        damaged[offset] ^= 0x10
        _place_variant(project, f"flip-{case}", bytes(damaged), sidecar if with_sidecar else None)
        assert_refused_cleanly(outside, project, f"flip-{case}")


def test_a_flip_that_changes_no_content_fails_verify(
    good: tuple[bytes, str, list[list[int]]], project: Path, outside: Path
) -> None:
    """A flipped bit in a gzip header's timestamp changes no member: only the sha256 sees it.

    Verify must report it; a restore, which checks every file's sha256 and
    every CRC but not the whole archive's digest, may refuse it or restore
    the untouched content, and nothing else.
    """
    data, sidecar, _ = good
    damaged = bytearray(data)
    damaged[5] ^= 0x10
    _place_variant(project, "flip-gzip-mtime", bytes(damaged), sidecar)
    report = archive.verify(project, "flip-gzip-mtime")
    assert not report.ok
    assert "sha256" in report.problems[0]

    target = outside / "restored"
    try:
        archive.restore(project, "flip-gzip-mtime", into=target)
    except archive.CheckpointError as error:
        assert error.kind == "damaged"
        assert not target.exists()
    else:
        found = comparable_state(target, leave_out=())
        expected = comparable_state(project)
        assert found == expected, describe_difference(expected, found)


@pytest.mark.parametrize("with_sidecar", [True, False], ids=["sidecar", "no-sidecar"])
def test_truncations_are_noticed(
    with_sidecar: bool, good: tuple[bytes, str, list[list[int]]], project: Path, outside: Path
) -> None:
    data, sidecar, members = good
    tail_offset = members[-1][0] + members[-1][1]
    points = {
        "in-gzip-header": 6,
        "after-first-member": members[0][1],
        "a-third": len(data) // 3,
        "before-the-index": tail_offset,
        "inside-the-index": tail_offset + 20,
        "before-last-crc": len(data) - 8,
        "last-byte": len(data) - 1,
    }
    for case, point in points.items():
        name = f"cut-{case}"
        _place_variant(project, name, data[:point], sidecar if with_sidecar else None)
        assert_refused_cleanly(outside, project, name)


@pytest.mark.parametrize("with_sidecar", [True, False], ids=["sidecar", "no-sidecar"])
def test_trailing_bytes_are_noticed(
    with_sidecar: bool, good: tuple[bytes, str, list[list[int]]], project: Path, outside: Path
) -> None:
    data, sidecar, _ = good
    trailers = {
        "garbage": b"garbage after the archive\n",
        "gzip-magic-then-garbage": b"\x1f\x8b" + b"\x08\x00garbage" * 10,
        "a-member-smuggling-a-file": gz(tar_of(regular("data/smuggled.txt", b"smuggled\n"))),
    }
    for case, trailer in trailers.items():
        name = f"trailing-{case}"
        _place_variant(project, name, data + trailer, sidecar if with_sidecar else None)
        assert_refused_cleanly(outside, project, name)


IndexEdit = Callable[[list[tuple[tarfile.TarInfo, bytes]]], None]


def _lie_about_sha256(members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    def edit(summary: dict) -> None:
        row = next(row for row in summary["index"]["entries"] if row[1] == "file")
        row[5] = "0" * 64

    edit_index(members, edit)


def _drop_a_listed_file(members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    members[:] = [(info, data) for info, data in members if info.name != "data/table.csv"]


def _add_an_unlisted_file(members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    extra = tarfile.TarInfo("data/unlisted.txt")
    extra.size = 9
    members.insert(1, (extra, b"unlisted\n"))


LIES: dict[str, IndexEdit] = {
    "index-lies-about-a-sha256": _lie_about_sha256,
    "index-lists-a-missing-file": _drop_a_listed_file,
    "index-omits-a-file": _add_an_unlisted_file,
}


@pytest.mark.parametrize("with_sidecar", [True, False], ids=["sidecar", "no-sidecar"])
@pytest.mark.parametrize("lie", list(LIES), ids=list(LIES))
def test_an_index_that_lies_is_noticed(
    lie: str,
    with_sidecar: bool,
    good: tuple[bytes, str, list[list[int]]],
    project: Path,
    outside: Path,
) -> None:
    data = rewrite_members(good[0], LIES[lie])
    sidecar = summary_for(data, files=7).model_dump_json() if with_sidecar else None
    _place_variant(project, lie, data, sidecar)
    assert_refused_cleanly(outside, project, lie)


def test_repacked_archive_without_a_lie_restores(
    good: tuple[bytes, str, list[list[int]]], project: Path, outside: Path
) -> None:
    """The control for the lies above: re-packing alone changes nothing a restore checks."""
    data = rewrite_members(good[0], lambda members: None)
    _place_variant(project, "repacked", data, None)
    assert archive.verify(project, "repacked").ok
    archive.restore(project, "repacked", into=outside / "restored")
    assert (outside / "restored" / "data" / "table.csv").read_bytes() == (
        project / "data" / "table.csv"
    ).read_bytes()


def test_a_forced_merge_replaces_links_in_the_target_instead_of_following_them(
    project: Path, outside: Path
) -> None:
    """Merging over a folder whose ``data`` and ``top.txt`` are links to elsewhere."""
    elsewhere = outside / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep\n")
    data = gz(
        tar_of(
            folder("data"),
            regular("data/keep.txt", b"from the checkpoint\n"),
            regular("top.txt", b"top\n"),
        )
    )
    place(checkpoints_of(project), "merge", data, None)
    target = outside / "target"
    target.mkdir()
    (target / "data").symlink_to(elsewhere)
    (target / "top.txt").symlink_to(elsewhere / "keep.txt")
    before = tree_state(elsewhere)

    report = archive.restore(project, "merge", into=target, force=True)

    assert report.merged
    assert tree_state(elsewhere) == before
    assert not (target / "data").is_symlink() and not (target / "top.txt").is_symlink()
    assert (target / "data" / "keep.txt").read_bytes() == b"from the checkpoint\n"
