"""Fixtures shared by every test folder: small hand-made projects and real jellycell ones."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

JELLYCELL = Path(sys.executable).with_name("jellycell")

MINIMAL_TOML = """\
[project]
name = "{name}"
"""


def write_project(folder: Path, name: str = "demo", toml: str | None = None) -> Path:
    """Make a small project by hand: config, a notebook, data, a cache with blobs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jellycell.toml").write_text(toml or MINIMAL_TOML.format(name=name))
    (folder / "notebooks").mkdir(exist_ok=True)
    (folder / "notebooks" / "analysis.py").write_text("# %%\nx = 1\n")
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "table.csv").write_text("a,b\n1,2\n" * 100)
    (folder / "data" / "empty-dir").mkdir(exist_ok=True)
    blobs = folder / ".jellycell" / "cache" / "blobs" / "ab"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / "abcdef").write_bytes(bytes(range(256)) * 4)
    (folder / "manuscripts").mkdir(exist_ok=True)
    (folder / "manuscripts" / "paper.md").write_text("# Results\n")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small hand-made project folder, ``tmp_path/demo``."""
    return write_project(tmp_path / "demo")


def run_jellycell(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real jellycell command line; fail the test with its output if it fails."""
    result = subprocess.run(
        [str(JELLYCELL), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        pytest.fail(f"jellycell {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def jellycell_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made once per session by ``jellycell init``, ``new`` and ``run``."""
    if not JELLYCELL.exists():
        pytest.fail("the jellycell command line is not installed; pip install -e '.[test]'")
    base = tmp_path_factory.mktemp("jellycell-template")
    run_jellycell("init", "real", "--name", "real", cwd=base)
    root = base / "real"
    run_jellycell("new", "analysis", cwd=root)
    (root / "data" / "numbers.csv").write_text(
        "x,y\n" + "".join(f"{i},{i * i}\n" for i in range(500))
    )
    run_jellycell("run", "notebooks/analysis.py", cwd=root)
    return root


@pytest.fixture
def real_project(jellycell_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the real jellycell project, ``tmp_path/real``."""
    target = tmp_path / "real"
    shutil.copytree(jellycell_template, target, symlinks=True)
    return target


SQLITE_HEADER = b"SQLite format 3\0"
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
Tree = dict[str, tuple[object, ...]]


def sqlite_dump(path: Path) -> list[str]:
    """The SQL text of a database, read from a copy so the original gains no -wal or -shm."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "copy.db"
        shutil.copyfile(path, copy)
        for suffix in SQLITE_COMPANIONS:
            companion = Path(f"{path}{suffix}")
            if companion.exists():
                shutil.copyfile(companion, f"{copy}{suffix}")
        connection = sqlite3.connect(copy)
        try:
            return list(connection.iterdump())
        finally:
            connection.close()


def snapshot_tree(folder: Path, *, exclude: tuple[str, ...] = (), modes: bool = True) -> Tree:
    """Every path below ``folder`` and what it holds, without following links.

    Files are ``("file", bytes, mode)``, SQLite databases ``("sqlite", dump)`` (their
    -wal/-shm/-journal companions are folded into the dump), links ``("link", target)``
    and folders ``("dir", mode)``. ``exclude`` names relative paths left out with
    everything below them; ``modes=False`` leaves permission bits out.
    """
    found: Tree = {}

    def visit(path: Path, relative: str) -> None:
        if any(relative == gone or relative.startswith(gone + "/") for gone in exclude):
            return
        info = path.lstat()
        mode = stat.S_IMODE(info.st_mode) if modes else None
        if stat.S_ISLNK(info.st_mode):
            found[relative] = ("link", os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            if relative:
                found[relative] = ("dir", mode)
            names = sorted(os.listdir(path))
            for name in names:
                if any(
                    name == f"{other}{suffix}" for other in names for suffix in SQLITE_COMPANIONS
                ):
                    continue
                visit(path / name, f"{relative}/{name}" if relative else name)
        else:
            data = path.read_bytes()
            if data.startswith(SQLITE_HEADER):
                found[relative] = ("sqlite", tuple(sqlite_dump(path)))
            else:
                found[relative] = ("file", data, mode)

    visit(folder, "")
    return found


@pytest.fixture
def snapshot() -> Callable[..., Tree]:
    """:func:`snapshot_tree`: a folder's content, to compare a restore with its project."""
    return snapshot_tree


@pytest.fixture(params=["one pass", "in runs"])
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Read archives in one pass, or in runs of members by three processes at once.

    In runs, every archive is large enough to be read so and every file is a
    group of its own, so that runs start and end between any two members.
    """
    if request.param == "in runs":
        from jellycell_jupyter.archive import reader, writer

        monkeypatch.setattr(reader, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(reader, "PARALLEL_FILES", 0)
        monkeypatch.setattr(reader, "PROCESSES", 3)
        monkeypatch.setattr(reader, "_HELPER_START", 0.0)
        monkeypatch.setattr(writer, "GROUP_SPREAD", 1)
    return str(request.param)


@pytest.fixture
def refuse_to_open(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make ``os.open`` of a path fail with EACCES, as an unreadable file would.

    Root reads every file whatever its mode, so the refusal is injected.
    """

    def refuse(refused: str) -> None:
        real_open = os.open

        def guarded_open(path: Any, *args: Any, **kwargs: Any) -> int:
            if str(path) == refused:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", guarded_open)

    return refuse
