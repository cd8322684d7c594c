"""A full disk, a read-only folder, an unreadable file: one clear line, and nothing left behind.

Where this machine lets us mount, the faults are real: a 2 MB tmpfs as the
checkpoints folder or the restore target's folder, remounted read-only for
the read-only cases. The same faults are also injected by replacing the one
write or open that meets them, so the tests mean something where mounting is
forbidden too.
"""

from __future__ import annotations

import builtins
import errno
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integrity_projects import MountFactory, remount, run_command
from integrity_trees import comparable_state, describe_difference

from jellycell_jupyter import archive
from jellycell_jupyter.archive import writer

pytestmark = pytest.mark.usefixtures("reading")


def checkpoints_of(project: Path) -> Path:
    """The project's checkpoints folder."""
    return project / ".jellycell" / "checkpoints"


def assert_one_clear_line(error: archive.CheckpointError, *words: str) -> None:
    """An environment error of one line that says what it is about."""
    assert error.kind == "environment", f"{error.kind}: {error}"
    assert error.message and "\n" not in error.message
    for word in words:
        assert word in error.message, f"{word!r} not in {error.message!r}"


def everything_in(folder: Path) -> list[str]:
    """Every path below ``folder``, hidden ones included."""
    return sorted(
        os.path.relpath(os.path.join(current, name), folder)
        for current, folders, files in os.walk(folder)
        for name in folders + files
    )


# -- a full disk ------------------------------------------------------------------------


def test_full_checkpoints_disk(sized_project: Path, mount_tmpfs: MountFactory) -> None:
    folder = mount_tmpfs(checkpoints_of(sized_project), "2m")
    assert folder is not None

    with pytest.raises(archive.CheckpointError) as caught:
        archive.create(sized_project, name="full")
    assert_one_clear_line(caught.value, "space", str(folder))
    assert everything_in(folder) == []

    result = run_command("create", str(sized_project), "--name", "full", cwd=sized_project)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "space" in lines[0]
    assert everything_in(folder) == []
    assert archive.list_checkpoints(sized_project).checkpoints == []

    remount(folder, "size=64m")
    archive.create(sized_project, name="roomy")
    assert archive.verify(sized_project, "roomy").ok


def test_full_disk_while_copying_a_live_database(tmp_path: Path, mount_tmpfs: MountFactory) -> None:
    """The database's copy does not fit: the checkpoint fails, or it holds every committed row.

    Rows committed to a WAL database sit in its ``-wal`` until SQLite moves
    them into the file itself, so a copy of the file's bytes would lose them.
    """
    project = tmp_path / "walfull"
    (project / ".jellycell" / "cache").mkdir(parents=True)
    (project / "jellycell.toml").write_text('[project]\nname = "walfull"\n')
    database = sqlite3.connect(project / ".jellycell" / "cache" / "live.db")
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA wal_autocheckpoint=0")
    database.execute("CREATE TABLE rows (key INTEGER PRIMARY KEY, value TEXT)")
    with database:
        database.executemany(
            "INSERT INTO rows VALUES (?, ?)", ((n, "x" * 1000) for n in range(3000))
        )
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with database:
        database.executemany(
            "INSERT INTO rows VALUES (?, ?)", ((n, "y") for n in range(3000, 3100))
        )
    folder = mount_tmpfs(checkpoints_of(project), "1m")
    assert folder is not None

    try:
        try:
            archive.create(project, name="live")
        except archive.CheckpointError as error:
            assert_one_clear_line(error, "space")
            assert everything_in(folder) == []
            return
        archive.restore(project, "live", into=tmp_path / "restored")
        copy = sqlite3.connect(tmp_path / "restored" / ".jellycell" / "cache" / "live.db")
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT count(*) FROM rows").fetchone() == (3100,)
        copy.close()
    finally:
        database.close()


@pytest.mark.parametrize("nested", [False, True], ids=["target", "target-with-new-parents"])
def test_full_restore_disk(
    nested: bool, sized_project: Path, tmp_path: Path, mount_tmpfs: MountFactory
) -> None:
    archive.create(sized_project, name="big")
    disk = mount_tmpfs(tmp_path / "small-disk", "2m")
    assert disk is not None
    target = disk / "new" / "parents" / "restored" if nested else disk / "restored"

    with pytest.raises(archive.CheckpointError) as caught:
        archive.restore(sized_project, "big", into=target)
    assert_one_clear_line(caught.value, "space")
    assert everything_in(disk) == []
    assert os.statvfs(disk).f_bfree == os.statvfs(disk).f_blocks


# -- a read-only folder -----------------------------------------------------------------


def test_read_only_checkpoints_folder(sized_project: Path, mount_tmpfs: MountFactory) -> None:
    folder = mount_tmpfs(checkpoints_of(sized_project), "16m")
    assert folder is not None
    archive.create(sized_project, name="before")
    remount(folder, "ro")
    before = everything_in(folder)

    with pytest.raises(archive.CheckpointError) as caught:
        archive.create(sized_project, name="refused")
    assert_one_clear_line(caught.value, str(folder))
    assert everything_in(folder) == before

    with pytest.raises(archive.CheckpointError) as caught:
        archive.delete(sized_project, "before")
    assert_one_clear_line(caught.value)
    assert everything_in(folder) == before

    # Reading still works: list, verify and restore need no write in the folder.
    assert [entry.name for entry in archive.list_checkpoints(sized_project).checkpoints] == [
        "before"
    ]
    assert archive.verify(sized_project, "before").ok
    restored = sized_project.parent / "restored"
    archive.restore(sized_project, "before", into=restored)
    expected = comparable_state(sized_project)
    found = comparable_state(restored, leave_out=())
    assert found == expected, describe_difference(expected, found)


def test_read_only_restore_folder(
    sized_project: Path, tmp_path: Path, mount_tmpfs: MountFactory
) -> None:
    archive.create(sized_project, name="c")
    disk = mount_tmpfs(tmp_path / "read-only", "16m")
    assert disk is not None
    remount(disk, "ro")

    for target in (disk / "restored", disk / "new" / "restored"):
        with pytest.raises(archive.CheckpointError) as caught:
            archive.restore(sized_project, "c", into=target)
        assert_one_clear_line(caught.value)
        assert everything_in(disk) == []


# -- the same faults, injected ----------------------------------------------------------


class FullAfter:
    """A writable file that fails with ENOSPC once ``room`` bytes have gone into it."""

    def __init__(self, handle: Any, room: int) -> None:
        self._handle = handle
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return int(self._handle.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> FullAfter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def test_injected_full_disk_on_create(sized_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = builtins.open(path, mode, *args, **kwargs)  # noqa: SIM115 - returned open
        if str(path).endswith(".tar.gz.partial") and "w" in mode:
            return FullAfter(handle, 1 << 20)
        return handle

    monkeypatch.setattr(writer, "open", full_open, raising=False)
    with pytest.raises(archive.CheckpointError) as caught:
        archive.create(sized_project, name="full")
    assert_one_clear_line(caught.value, "space")
    assert everything_in(checkpoints_of(sized_project)) == []


def _failing_writes(under: Path, room: int, code: int) -> Callable[[int, Any], int]:
    """``os.write`` that fails with ``code`` for files below ``under`` after ``room`` bytes."""
    real_write = os.write
    state = {"room": room}

    def write(fd: int, data: Any) -> int:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        if path.startswith(str(under) + os.sep):
            if len(data) > state["room"]:
                raise OSError(code, os.strerror(code))
            state["room"] -= len(data)
        return real_write(fd, data)

    return write


def test_injected_full_disk_on_restore(
    sized_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: str
) -> None:
    if reading == "in runs":
        pytest.skip("the injected os.write fails in this process only; a full tmpfs covers runs")
    archive.create(sized_project, name="big")
    restores = tmp_path / "restores"
    restores.mkdir()
    monkeypatch.setattr(os, "write", _failing_writes(restores, 1 << 20, errno.ENOSPC))

    with pytest.raises(archive.CheckpointError) as caught:
        archive.restore(sized_project, "big", into=restores / "restored")
    monkeypatch.undo()
    assert_one_clear_line(caught.value, "space")
    assert everything_in(restores) == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES], ids=["EROFS", "EACCES"])
def test_injected_unwritable_checkpoints_folder(
    code: int, sized_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = checkpoints_of(sized_project)
    folder.mkdir(parents=True)
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(folder)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(archive.CheckpointError) as caught:
        archive.create(sized_project, name="refused")
    monkeypatch.undo()
    assert_one_clear_line(caught.value, "permission")
    assert everything_in(folder) == []


def test_injected_unwritable_restore_folder(
    sized_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.create(sized_project, name="c")
    restores = tmp_path / "restores"
    restores.mkdir()
    monkeypatch.setattr(os, "write", _failing_writes(restores, 0, errno.EROFS))

    with pytest.raises(archive.CheckpointError) as caught:
        archive.restore(sized_project, "c", into=restores / "restored")
    monkeypatch.undo()
    assert_one_clear_line(caught.value, "permission")
    assert everything_in(restores) == []


# -- an unreadable file -----------------------------------------------------------------


@pytest.mark.parametrize(
    "unreadable",
    ["data/small/part-007.bin", "data/large-a.bin", "notebooks/analysis.py"],
    ids=["small-file", "large-file", "notebook"],
)
def test_unreadable_file(
    unreadable: str, sized_project: Path, refuse_to_open: Callable[[str], None]
) -> None:
    refuse_to_open(str(sized_project / unreadable))
    with pytest.raises(archive.CheckpointError) as caught:
        archive.create(sized_project, name="unreadable")
    assert_one_clear_line(caught.value, unreadable)
    assert everything_in(checkpoints_of(sized_project)) == []
    assert archive.list_checkpoints(sized_project).checkpoints == []
