"""Listing checkpoints: newest first, without sidecars too, and honest about damage."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import writer
from jellycell_jupyter.archive.durable import reservation
from jellycell_jupyter.archive.store import lock_for


def clock(*moments: datetime) -> type[datetime]:
    """A ``datetime`` whose ``now`` returns ``moments`` one after the other."""
    queue = list(moments)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return queue.pop(0)

    return Clock


def at(hour: int) -> datetime:
    return datetime(2031, 5, 6, hour, 0, 0, tzinfo=UTC)


def test_no_checkpoints_yet(project: Path) -> None:
    report = archive.list_checkpoints(project)

    assert report.checkpoints == []
    assert report.project == str(project)
    assert report.project_name == "demo"
    assert not (project / ".jellycell" / "checkpoints").exists()


def test_newest_first_whatever_the_names(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "datetime", clock(at(9), at(11), at(10)))
    archive.create(project, name="b-oldest", message="9")
    archive.create(project, name="a-newest", message="11")
    archive.create(project, name="c-middle", message="10")

    listed = archive.list_checkpoints(project).checkpoints

    assert [entry.name for entry in listed] == ["a-newest", "c-middle", "b-oldest"]
    assert [entry.created_at for entry in listed] == [
        "2031-05-06T11:00:00+00:00",
        "2031-05-06T10:00:00+00:00",
        "2031-05-06T09:00:00+00:00",
    ]
    assert all(entry.status == "ok" and entry.problem is None for entry in listed)
    assert all(entry.size_bytes == os.path.getsize(entry.path) for entry in listed)


@pytest.mark.parametrize(
    "sidecar_content", [None, b"{not json", b'{"schema_version": 1}', b"\0" * 40]
)
def test_without_a_usable_sidecar_the_archive_explains_itself(
    project: Path, checkpoints: Path, sidecar_content: bytes | None
) -> None:
    made = archive.create(project, name="solo", message="from inside the archive")
    sidecar = checkpoints / "solo.json"
    if sidecar_content is None:
        sidecar.unlink()
    else:
        sidecar.write_bytes(sidecar_content)

    [entry] = archive.list_checkpoints(project).checkpoints

    assert entry.name == "solo"
    assert entry.status == "ok"
    assert entry.message == "from inside the archive"
    assert entry.files == made.files
    assert entry.size_bytes == made.size_bytes
    assert entry.created_at.startswith(str(datetime.now(UTC).year))
    assert archive.verify(project, "solo").ok
    assert (checkpoints / "solo.json").exists() == (sidecar_content is not None)


def test_half_written_files_locks_and_strays_are_never_listed(
    project: Path, checkpoints: Path
) -> None:
    archive.create(project, name="real")
    whole = (checkpoints / "real.tar.gz").read_bytes()
    (checkpoints / ".half.tar.gz.partial").write_bytes(whole[: len(whole) // 2])
    (checkpoints / ".half.lock").write_bytes(b"")
    (checkpoints / "notes.txt").write_text("not a checkpoint")
    (checkpoints / "folder.tar.gz").mkdir()
    os.symlink("real.tar.gz", checkpoints / "alias.tar.gz")

    names = [entry.name for entry in archive.list_checkpoints(project).checkpoints]

    assert names == ["real"]


def test_a_truncated_archive_with_its_sidecar_is_marked_damaged(
    project: Path, checkpoints: Path
) -> None:
    archive.create(project, name="good")
    made = archive.create(project, name="cut")
    path = checkpoints / "cut.tar.gz"
    path.write_bytes(path.read_bytes()[: made.size_bytes - 100])

    listed = {entry.name: entry for entry in archive.list_checkpoints(project).checkpoints}

    assert listed["good"].status == "ok"
    assert listed["cut"].status == "damaged"
    assert str(made.size_bytes) in (listed["cut"].problem or "")
    assert listed["cut"].size_bytes == made.size_bytes - 100


def test_a_truncated_archive_without_a_sidecar_is_marked_incomplete(
    project: Path, checkpoints: Path
) -> None:
    made = archive.create(project, name="cut")
    path = checkpoints / "cut.tar.gz"
    path.write_bytes(path.read_bytes()[: made.size_bytes // 2])
    (checkpoints / "cut.json").unlink()

    [entry] = archive.list_checkpoints(project).checkpoints

    assert entry.status == "incomplete"
    assert entry.problem
    assert entry.files is None


def test_listing_writes_nothing(project: Path, checkpoints: Path) -> None:
    archive.create(project, name="one")
    before = sorted(os.listdir(checkpoints))

    archive.list_checkpoints(project)
    (checkpoints / "one.json").unlink()
    archive.list_checkpoints(project)

    assert sorted(os.listdir(checkpoints)) == [n for n in before if n != "one.json"]


def test_checkpoints_of_the_same_second_are_newest_first_too(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "datetime", clock(at(9), at(9), at(9)))
    archive.create(project, name="b-first")
    archive.create(project, name="c-second")
    archive.create(project, name="a-third")

    listed = archive.list_checkpoints(project).checkpoints

    assert [entry.name for entry in listed] == ["a-third", "c-second", "b-first"]


def test_delete_removes_the_archive_and_its_sidecar_only(project: Path, checkpoints: Path) -> None:
    archive.create(project, name="keep")
    archive.create(project, name="drop")

    report = archive.delete(project, "drop")

    assert sorted(report.deleted) == sorted(
        [str(checkpoints / "drop.tar.gz"), str(checkpoints / "drop.json")]
    )
    assert sorted(os.listdir(checkpoints)) == ["keep.json", "keep.tar.gz"]
    with pytest.raises(archive.CheckpointError) as caught:
        archive.delete(project, "drop")
    assert caught.value.kind == "not_found"


def test_a_name_being_worked_on_elsewhere_is_a_conflict(project: Path, checkpoints: Path) -> None:
    archive.create(project, name="busy")
    project_model = archive.find_project(project)

    with reservation(lock_for(project_model, "busy"), "another operation"):
        with pytest.raises(archive.CheckpointError) as deleting:
            archive.delete(project, "busy")
        with pytest.raises(archive.CheckpointError) as creating:
            archive.create(project, name="busy")
    with (
        reservation(lock_for(project_model, "fresh"), "another operation"),
        pytest.raises(archive.CheckpointError) as fresh,
    ):
        archive.create(project, name="fresh")

    assert deleting.value.kind == creating.value.kind == fresh.value.kind == "conflict"
    assert "in progress" in fresh.value.message
    assert sorted(os.listdir(checkpoints)) == ["busy.json", "busy.tar.gz"]
    assert archive.delete(project, "busy").deleted
    assert archive.create(project, name="fresh").name == "fresh"


@pytest.mark.parametrize("skipped", [0, 300, 4000])
def test_sidecars_of_any_length_are_read_whole(project: Path, skipped: int) -> None:
    made = archive.create(project, name="long", message="a long sidecar")
    sidecar = Path(made.path).with_name("long.json")
    data = json.loads(sidecar.read_text())
    data["skipped"] = [{"path": f"data/{n:05d}.tmp", "reason": "junk"} for n in range(skipped)]
    data["message"] = "as the sidecar says"  # the archive's own summary says otherwise
    sidecar.write_text(json.dumps(data))
    assert skipped < 4000 or sidecar.stat().st_size > 8 * 16 << 10

    [entry] = archive.list_checkpoints(project).checkpoints

    assert entry.status == "ok"
    assert (entry.message, entry.files) == ("as the sidecar says", made.files)


def test_a_listing_asked_for_again_sees_every_change(project: Path) -> None:
    made = archive.create(project, name="seen", message="first words")
    sidecar = Path(made.path).with_name("seen.json")
    assert archive.list_checkpoints(project).checkpoints[0].message == "first words"

    data = json.loads(sidecar.read_text())
    data["message"] = "second words"
    replacement = sidecar.with_name("replacement")
    replacement.write_text(json.dumps(data))
    os.replace(replacement, sidecar)
    assert archive.list_checkpoints(project).checkpoints[0].message == "second words"

    with open(made.path, "r+b") as handle:
        handle.truncate(made.size_bytes - 1)
    [entry] = archive.list_checkpoints(project).checkpoints
    assert entry.status == "damaged"

    os.unlink(made.path)
    assert archive.list_checkpoints(project).checkpoints == []
