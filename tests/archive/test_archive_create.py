"""Creating a checkpoint: what the report says, names, conflicts, and atomicity under failure."""

from __future__ import annotations

import errno
import hashlib
import os
import tarfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointError, Progress, writer
from jellycell_jupyter.archive.durable import reservation
from jellycell_jupyter.archive.names import sanitize_name


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_report_describes_the_archive_and_its_sidecar(project: Path, checkpoints: Path) -> None:
    report = archive.create(project / "notebooks", message="first", name="first")

    archive_file = checkpoints / "first.tar.gz"
    sidecar = archive.CheckpointSummary.model_validate_json(
        (checkpoints / "first.json").read_bytes()
    )
    assert report.path == str(archive_file)
    assert report.project == str(project)
    assert report.name == "first"
    assert report.message == "first"
    assert report.files == 5
    assert report.size_bytes == archive_file.stat().st_size == sidecar.size_bytes
    assert report.archive_sha256 == digest(archive_file) == sidecar.archive_sha256
    assert sidecar.project_name == "demo"
    assert sidecar.message == "first"
    assert sidecar.files == 5
    assert listing(checkpoints) == ["first.json", "first.tar.gz"]


def test_without_a_name_the_utc_time_names_it(project: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    report = archive.create(project)
    after = datetime.now(UTC)

    moment = datetime.strptime(report.name, "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)
    assert before <= moment <= after
    assert report.message is None


class FrozenClock(datetime):
    """``datetime`` whose ``now`` is always the same second."""

    @classmethod
    def now(cls, tz: Any = None) -> FrozenClock:
        return cls(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_two_creates_in_the_same_second_get_distinct_names(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "datetime", FrozenClock)

    first = archive.create(project, message="a")
    second = archive.create(project, message="b")
    third = archive.create(project, message="c")

    assert first.name == "2030-01-02T03-04-05Z"
    assert second.name == "2030-01-02T03-04-05Z-2"
    assert third.name == "2030-01-02T03-04-05Z-3"
    listed = archive.list_checkpoints(project).checkpoints
    assert {entry.name: entry.message for entry in listed} == {
        first.name: "a",
        second.name: "b",
        third.name: "c",
    }
    assert all(archive.verify(project, entry.name).ok for entry in listed)


def test_an_existing_name_is_a_conflict_and_nothing_is_overwritten(
    project: Path, checkpoints: Path
) -> None:
    archive.create(project, name="keep", message="original")
    before = {name: digest(checkpoints / name) for name in listing(checkpoints)}
    (project / "data" / "table.csv").write_text("changed\n")

    with pytest.raises(CheckpointError) as caught:
        archive.create(project, name="keep", message="second")

    assert caught.value.kind == "conflict"
    assert "keep" in caught.value.message
    assert {name: digest(checkpoints / name) for name in listing(checkpoints)} == before
    assert archive.list_checkpoints(project).checkpoints[0].message == "original"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("my run/1", "my-run-1"),
        ("///", "checkpoint"),
        ("", "checkpoint"),
        ("  before refactor!  ", "before-refactor"),
        ("../../etc/passwd", "..-..-etc-passwd"),
        ("café au lait", "caf-au-lait"),
        ("v1.2_rc-3", "v1.2_rc-3"),
        ("-lead-and-trail-", "lead-and-trail"),
    ],
)
def test_names_are_made_safe(project: Path, checkpoints: Path, given: str, stored: str) -> None:
    report = archive.create(project, name=given)

    assert report.name == stored
    assert listing(checkpoints) == sorted([f"{stored}.json", f"{stored}.tar.gz"])


@pytest.mark.parametrize("given", [".", ".."])
def test_a_name_of_only_dots_is_refused(project: Path, checkpoints: Path, given: str) -> None:
    with pytest.raises(CheckpointError) as caught:
        archive.create(project, name=given)

    assert caught.value.kind == "invalid"
    assert listing(checkpoints) == []
    assert not list(project.parent.glob("*.tar.gz"))


def test_progress_reaches_every_file(bulky_project: Path) -> None:
    seen: list[Progress] = []

    report = archive.create(bulky_project, progress=seen.append)

    assert seen
    assert {item.phase for item in seen} == {"archive"}
    assert all(0.0 <= item.fraction <= 1.0 for item in seen)
    assert seen[-1].files_done == seen[-1].files_total
    assert seen[-1].fraction == 1.0
    assert seen[-1].files_total >= report.files


# -- a failure at any moment leaves nothing behind ---------------------------------------


class Boom(RuntimeError):
    """The injected failure."""


def fail_on_call(number: int, original: Any, error: BaseException) -> Any:
    """A stand-in for ``original`` that raises ``error`` on its ``number``-th call."""
    calls = 0

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == number:
            raise error
        return original(*args, **kwargs)

    stand_in.calls = lambda: calls  # type: ignore[attr-defined]
    return stand_in


@pytest.fixture
def earlier(bulky_project: Path, checkpoints: Path) -> dict[str, str]:
    """One good checkpoint made before the failing one, and the digests of what it left.

    Every file is touched afterwards, so the next checkpoint copies nothing from
    this one and compresses every group again.
    """
    archive.create(bulky_project, name="earlier")
    for path in bulky_project.rglob("*"):
        if path.is_file() and checkpoints not in path.parents:
            os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    return {name: digest(checkpoints / name) for name in listing(checkpoints)}


def assert_nothing_left(project: Path, checkpoints: Path, earlier: dict[str, str]) -> None:
    assert {name: digest(checkpoints / name) for name in listing(checkpoints)} == earlier
    assert [entry.name for entry in archive.list_checkpoints(project).checkpoints] == ["earlier"]
    again = archive.create(project, name="after-the-failure")
    assert archive.verify(project, again.name).ok


@pytest.mark.parametrize("call", [1, 3, 8])
def test_a_compression_failure_leaves_nothing(
    bulky_project: Path,
    checkpoints: Path,
    earlier: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    call: int,
) -> None:
    stand_in = fail_on_call(call, writer.compress_member, Boom("injected"))
    monkeypatch.setattr(writer, "compress_member", stand_in)

    with pytest.raises(Boom):
        archive.create(bulky_project, name="doomed")

    assert stand_in.calls() >= call
    monkeypatch.undo()
    assert_nothing_left(bulky_project, checkpoints, earlier)


def test_a_full_disk_mid_create_is_a_clear_error_and_leaves_nothing(
    bulky_project: Path,
    checkpoints: Path,
    earlier: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(
        writer.ArchiveWriter,
        "_write_small",
        fail_on_call(4, writer.ArchiveWriter._write_small, full),
    )

    with pytest.raises(CheckpointError) as caught:
        archive.create(bulky_project, name="doomed")

    assert caught.value.kind == "environment"
    assert "no space left" in caught.value.message
    monkeypatch.undo()
    assert_nothing_left(bulky_project, checkpoints, earlier)


def test_an_interrupt_mid_create_leaves_nothing(
    bulky_project: Path,
    checkpoints: Path,
    earlier: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stand_in = fail_on_call(3, writer.ArchiveWriter._write_small, KeyboardInterrupt())
    monkeypatch.setattr(writer.ArchiveWriter, "_write_small", stand_in)

    with pytest.raises(KeyboardInterrupt):
        archive.create(bulky_project, name="interrupted")

    assert stand_in.calls() == 3
    monkeypatch.undo()
    assert_nothing_left(bulky_project, checkpoints, earlier)


def test_an_interrupt_while_streaming_a_large_file_leaves_nothing(
    bulky_project: Path,
    checkpoints: Path,
    earlier: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stand_in = fail_on_call(1, writer.ArchiveWriter._stream_file, KeyboardInterrupt())
    monkeypatch.setattr(writer.ArchiveWriter, "_stream_file", stand_in)

    with pytest.raises(KeyboardInterrupt):
        archive.create(bulky_project, name="interrupted")

    monkeypatch.undo()
    assert_nothing_left(bulky_project, checkpoints, earlier)


def test_a_failure_writing_the_sidecar_withdraws_the_archive(
    bulky_project: Path,
    checkpoints: Path,
    earlier: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_sidecar(path: Path, data: bytes) -> None:
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(writer, "write_file_atomically", no_sidecar)

    with pytest.raises(CheckpointError) as caught:
        archive.create(bulky_project, name="no-sidecar")

    assert caught.value.kind == "environment"
    monkeypatch.undo()
    assert_nothing_left(bulky_project, checkpoints, earlier)


def test_sanitize_name_examples_from_the_spec() -> None:
    assert sanitize_name("my run/1") == "my-run-1"
    assert sanitize_name("///") == "checkpoint"
    assert sanitize_name("before refactor") == "before-refactor"


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same moment; results or errors."""
    barrier = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def one(number: int) -> None:
        barrier.wait()
        try:
            outcomes[number] = work(number)
        except CheckpointError as error:
            outcomes[number] = error

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_creates_of_one_name_make_exactly_one_checkpoint(
    bulky_project: Path, checkpoints: Path
) -> None:
    outcomes = run_together(4, lambda n: archive.create(bulky_project, name="race", message=str(n)))

    made = [o for o in outcomes if isinstance(o, archive.CheckpointCreateReport)]
    refused = [o for o in outcomes if isinstance(o, CheckpointError)]
    assert len(made) == 1
    assert len(refused) == 3
    assert {error.kind for error in refused} == {"conflict"}
    assert listing(checkpoints) == ["race.json", "race.tar.gz"]
    assert archive.list_checkpoints(bulky_project).checkpoints[0].message == made[0].message
    assert archive.verify(bulky_project, "race").ok


def test_concurrent_creates_without_names_all_succeed_with_distinct_names(
    project: Path, checkpoints: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "datetime", FrozenClock)

    outcomes = run_together(3, lambda n: archive.create(project, message=str(n)))

    assert all(isinstance(o, archive.CheckpointCreateReport) for o in outcomes), outcomes
    names = {o.name for o in outcomes}
    assert names == {
        "2030-01-02T03-04-05Z",
        "2030-01-02T03-04-05Z-2",
        "2030-01-02T03-04-05Z-3",
    }
    assert {entry.name for entry in archive.list_checkpoints(project).checkpoints} == names
    assert not [name for name in listing(checkpoints) if name.startswith(".")]


def test_a_file_that_vanishes_while_archiving_is_reported_and_left_out(
    bulky_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = [
        bulky_project / "notebooks" / "notes" / "note-007.txt",
        bulky_project / "data" / "large.bin",
    ]
    original = writer.scan_project

    def scan_then_delete(project: Any, **how: Any) -> Any:
        scan = original(project, **how)
        for path in doomed:
            path.unlink()
        return scan

    monkeypatch.setattr(writer, "scan_project", scan_then_delete)

    report = archive.create(bulky_project, name="vanishing")

    skipped = {item.path: item.reason for item in report.skipped}
    assert skipped == {
        "notebooks/notes/note-007.txt": "vanished while archiving",
        "data/large.bin": "vanished while archiving",
    }
    checked = archive.verify(bulky_project, "vanishing")
    assert checked.ok, checked.problems
    assert checked.files == report.files
    with tarfile.open(report.path) as tar:
        names = set(tar.getnames())
    assert "notebooks/notes/note-007.txt" not in names
    assert "data/large.bin" not in names
    assert "notebooks/notes/note-008.txt" in names


def test_a_create_removes_what_killed_creates_left_and_nothing_a_live_one_uses(
    project: Path,
) -> None:
    folder = project / ".jellycell" / "checkpoints"
    # Finished checkpoints whose names look like leftovers'.
    looks_left = [".z.helped-0123abcd.partial", ".y.sqlite.partial-journal", "w.index.partial"]
    for name in looks_left:
        archive.create(project, name=name)
    dead = [
        ".dead.tar.gz.partial",
        ".dead.index.partial",
        ".dead.helped-0123abcd.partial",
        ".dead.helped-0123abcd.partial-index-marked",
        ".dead.helped-0123abcd.partial-sqlite-journal",
        ".dead.sqlite.partial-journal",
        ".dead.json.partial-4242",
        ".dead.lock",
        ".dotted.name.tar.gz.partial",
    ]
    # A live create's files, under a name that ends like a leftover of another name.
    live = [".x.sqlite.partial.tar.gz.partial", ".x.sqlite.partial.index.partial"]
    unrelated = [".notes.txt", "busy.tar.gz.partial", ".z.helped.partial.tar.gz.x"]
    for name in dead + live + unrelated:
        (folder / name).write_bytes(b"left")

    with reservation(folder / ".x.sqlite.partial.lock", "creating checkpoint 'x.sqlite.partial'"):
        archive.create(project, name="fresh")
        left = sorted(os.listdir(folder))

    finished = [f"{name}{suffix}" for name in looks_left for suffix in (".json", ".tar.gz")]
    kept = [*live, *unrelated, *finished, ".x.sqlite.partial.lock", "fresh.json", "fresh.tar.gz"]
    assert left == sorted(kept), left
    assert archive.verify(project, "fresh").ok
    for name in looks_left:
        assert archive.verify(project, name).ok
