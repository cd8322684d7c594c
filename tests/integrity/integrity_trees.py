"""Snapshots of folder trees, so a test can say exactly what changed on disk and what did not."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

TreeState = dict[str, tuple[str, str]]


def tree_state(folder: Path, *, leave_out: tuple[str, ...] = ()) -> TreeState:
    """Every path below ``folder`` as ``relative path -> (kind, sha256 or link target)``.

    Links are recorded, never followed; ``leave_out`` names relative paths whose
    whole subtree is not recorded.
    """
    state: TreeState = {}
    for current, folders, files in os.walk(folder):
        relative_folder = os.path.relpath(current, folder)
        kept = []
        for name in folders:
            relative = os.path.normpath(os.path.join(relative_folder, name))
            if relative in leave_out:
                continue
            if os.path.islink(os.path.join(current, name)):
                state[relative] = ("link", os.readlink(os.path.join(current, name)))
            else:
                state[relative] = ("dir", "")
                kept.append(name)
        folders[:] = kept
        for name in files:
            relative = os.path.normpath(os.path.join(relative_folder, name))
            if relative in leave_out:
                continue
            path = os.path.join(current, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                state[relative] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                state[relative] = ("file", file_sha256(path))
            else:
                state[relative] = ("other", oct(info.st_mode))
    return state


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def project_state(root: Path) -> TreeState:
    """What a checkpoint of the project at ``root`` must hold: all of it but its checkpoints."""
    return tree_state(root, leave_out=(".jellycell/checkpoints",))


def describe_difference(expected: TreeState, found: TreeState) -> str:
    """A short account of how two snapshots differ, for assertion messages."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    different = sorted(key for key in set(expected) & set(found) if expected[key] != found[key])
    return f"missing {missing[:5]}, extra {extra[:5]}, different {different[:5]}"


def comparable_state(
    root: Path, *, leave_out: tuple[str, ...] = (".jellycell/checkpoints",)
) -> TreeState:
    """Like :func:`tree_state`, but SQLite databases are compared by their rows, not their bytes.

    A checkpoint copies a database through SQLite's online backup, which keeps
    every row but may rewrite header counters, so equal databases can differ
    in bytes.
    """
    state = tree_state(root, leave_out=leave_out)
    for relative, (kind, _) in state.items():
        if kind == "file" and relative.endswith(".db"):
            state[relative] = ("database", database_digest(root / relative))
    return state


def database_digest(path: Path) -> str:
    """The sha256 of a database's SQL dump, read without writing anything beside it."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dump = "\n".join(connection.iterdump())
    finally:
        connection.close()
    return hashlib.sha256(dump.encode()).hexdigest()
