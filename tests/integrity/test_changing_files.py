"""Files that change while a checkpoint reads them: the archive stays whole, the change is told.

A thread truncates and appends to a large file (several gzip pieces) and a
small one while checkpoints are made. Whatever the timing, the archive must
read back with Python's tarfile and pass our verify, and each changing file
must restore either as a state it really had or be named in the report's
``changed`` list. A second set of tests changes a file exactly once, in the
middle of its first read, and requires it to be named.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import random
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integrity_projects import fill_project
from integrity_trees import comparable_state, describe_difference, file_sha256

from jellycell_jupyter import archive
from jellycell_jupyter.archive import writer

LARGE = "data/large-a.bin"
SMALL = "data/small/part-003.bin"
PAGE = 4096


class Mutator(threading.Thread):
    """Truncates and appends to files in turn, remembering the sha256 of every state they pass.

    An append never crosses a page boundary, so a reader sees it whole or not at
    all; each state is recorded right after the operation that made it.
    """

    def __init__(self, files: dict[Path, tuple[int, int]], seed: int) -> None:
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.limits = files
        self.models = {path: bytearray(path.read_bytes()) for path in files}
        self.states = {
            path: {hashlib.sha256(data).hexdigest()} for path, data in self.models.items()
        }
        self.stop = threading.Event()
        self.operations = 0

    def run(self) -> None:
        while not self.stop.is_set():
            for path, (smallest, largest) in self.limits.items():
                model = self.models[path]
                if len(model) > smallest and self.rng.random() < 0.5:
                    size = self.rng.randint(smallest, len(model) - 1)
                    os.truncate(path, size)
                    del model[size:]
                elif len(model) < largest:
                    room = PAGE - len(model) % PAGE
                    data = self.rng.randbytes(self.rng.randint(1, room))
                    with open(path, "ab") as handle:
                        handle.write(data)
                    model += data
                else:
                    continue
                self.states[path].add(hashlib.sha256(model).hexdigest())
                self.operations += 1


def _read_with_tarfile(path: Path) -> int:
    """Read every member of the archive with Python's tarfile; return how many files it holds."""
    files = 0
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                assert len(handle.read()) == member.size
                files += 1
    return files


@pytest.mark.slow
def test_files_truncated_and_appended_during_create(tmp_path: Path) -> None:
    project = fill_project(tmp_path / "busy", seed=21, megabytes=4)
    large, small = project / LARGE, project / SMALL
    untouched = {
        key: value for key, value in comparable_state(project).items() if key not in (LARGE, SMALL)
    }
    sizes = {large: (1 << 20, large.stat().st_size + (1 << 20)), small: (0, 1 << 16)}
    mutator = Mutator(sizes, seed=99)
    mutator.start()
    reports = []
    try:
        for round_number in range(6):
            reports.append(archive.create(project, name=f"busy-{round_number}"))
    finally:
        mutator.stop.set()
        mutator.join()
    assert mutator.operations > 0

    flagged = 0
    for report in reports:
        path = Path(report.path)
        assert _read_with_tarfile(path) == report.files
        assert archive.verify(project, report.name).ok
        target = tmp_path / "restored" / report.name
        archive.restore(project, report.name, into=target)

        found = comparable_state(target, leave_out=())
        for relative, state in untouched.items():
            assert found.get(relative) == state, f"{report.name}: {relative} differs"
        for changing in (LARGE, SMALL):
            restored = file_sha256(target / changing)
            if restored not in mutator.states[project / changing]:
                assert changing in report.changed, (
                    f"{report.name}: {changing} restored as no state it ever had, "
                    f"and the report's changed list {report.changed} does not name it"
                )
            flagged += changing in report.changed
    print(f"{mutator.operations} changes made, {flagged} files named as changed")


def _change_during_first_read(
    monkeypatch: pytest.MonkeyPatch, path: Path, change: Callable[[Path], None]
) -> list[int]:
    """Make ``change`` happen to ``path`` inside the first read the archiver makes of it."""
    reads: list[int] = []

    class Interrupted:
        def __init__(self, handle: Any) -> None:
            self._handle = handle

        def read(self, *size: int) -> bytes:
            if not reads:
                change(path)
            reads.append(1)
            return bytes(self._handle.read(*size))

        def readinto(self, buffer: memoryview) -> int:
            if not reads:
                change(path)
            reads.append(1)
            return int(self._handle.readinto(buffer))

        def __getattr__(self, name: str) -> Any:
            return getattr(self._handle, name)

        def __enter__(self) -> Interrupted:
            return self

        def __exit__(self, *exc: object) -> None:
            self._handle.close()

    def hooked_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        handle = builtins.open(file, *args, **kwargs)  # noqa: SIM115 - returned open
        return Interrupted(handle) if str(file) == str(path) else handle

    real_read_to_end = writer._read_to_end

    def hooked_read_to_end(fd: int, expected: int, **how: bool) -> bytes:
        # Small files are read with plain system calls, not through ``open``.
        if os.readlink(f"/proc/self/fd/{fd}") == str(path):
            if not reads:
                change(path)
            reads.append(1)
        return real_read_to_end(fd, expected, **how)

    monkeypatch.setattr(writer, "open", hooked_open, raising=False)
    monkeypatch.setattr(writer, "_read_to_end", hooked_read_to_end)
    return reads


def _append(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(b"appended while being read\n")


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _rewrite_same_size(path: Path) -> None:
    """Replace the bytes in place, keeping the size: only the time tells."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.write(random.Random(5).randbytes(size))


def _rewrite_keeping_its_time(path: Path) -> None:
    """Rewrite in place and set the modification time back, as ``rsync --inplace -t`` does."""
    found = path.stat()
    _rewrite_same_size(path)
    os.utime(path, ns=(found.st_atime_ns, found.st_mtime_ns))


CHANGES = {
    "append": _append,
    "truncate": _truncate,
    "rewrite-same-size": _rewrite_same_size,
    "rewrite-keeping-its-time": _rewrite_keeping_its_time,
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
@pytest.mark.parametrize("relative", [LARGE, SMALL], ids=["large", "small"])
def test_a_file_changed_mid_read_is_named_and_restored_as_it_then_was(
    relative: str, change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = fill_project(tmp_path / "once", seed=3, megabytes=4)
    path = project / relative
    reads = _change_during_first_read(monkeypatch, path, CHANGES[change])

    report = archive.create(project, name="once")
    monkeypatch.undo()
    assert reads, "the archiver never read the file"
    assert relative in report.changed
    assert _read_with_tarfile(Path(report.path)) == report.files
    assert archive.verify(project, "once").ok

    archive.restore(project, "once", into=tmp_path / "restored")
    expected = comparable_state(project)
    found = comparable_state(tmp_path / "restored", leave_out=())
    assert found == expected, describe_difference(expected, found)


@pytest.mark.parametrize("relative", [LARGE, SMALL], ids=["large", "small"])
def test_a_file_replaced_by_a_link_to_outside_is_not_read_through_it(
    relative: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the walk and the read, a file becomes a link to a file outside the project.

    Nothing outside the project may be read into a checkpoint: the file is
    reported as vanished, and the outside bytes are nowhere in the archive.
    """
    project = fill_project(tmp_path / "swapped", seed=4, megabytes=4)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside the project, never to be archived\n" * 100)
    path = project / relative

    def swap(_: Path) -> None:
        path.unlink()
        path.symlink_to(secret)

    real_open = writer._open_unfollowed

    def hooked_open(file: str, flags: int) -> int:
        # Every file the archiver reads is opened through this, small or large.
        if str(file) == str(path) and not path.is_symlink():
            swap(path)
        return real_open(file, flags)

    monkeypatch.setattr(writer, "_open_unfollowed", hooked_open)
    report = archive.create(project, name="swapped")
    monkeypatch.undo()

    assert path.is_symlink()
    assert relative in [skipped.path for skipped in report.skipped]
    with tarfile.open(report.path, "r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                assert b"never to be archived" not in handle.read(), member.name
            assert member.name != relative or not member.isfile()
    assert archive.verify(project, "swapped").ok


@pytest.mark.parametrize("relative", [LARGE, SMALL], ids=["large", "small"])
def test_a_file_changed_after_the_walk_is_named_and_kept_as_read(
    relative: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = fill_project(tmp_path / "walked", seed=4, megabytes=4)
    path = project / relative
    os.utime(path, ns=(0, 1_600_000_000 * 10**9))
    walk = writer.scan_project

    def walk_then_change(*args: Any, **kwargs: Any) -> Any:
        scan = walk(*args, **kwargs)
        with open(path, "r+b") as handle:  # the same size, a new time
            handle.write(b"written after the walk")
        return scan

    monkeypatch.setattr(writer, "scan_project", walk_then_change)
    report = archive.create(project, name="after-walk")
    monkeypatch.undo()

    assert relative in report.changed
    archive.restore(project, "after-walk", into=tmp_path / "restored")
    restored = tmp_path / "restored" / relative
    assert restored.read_bytes() == path.read_bytes()
    assert restored.stat().st_mtime_ns // 10**9 == path.stat().st_mtime_ns // 10**9
