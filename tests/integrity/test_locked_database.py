"""A database another program keeps locked makes a create give up clearly, leaving nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import writer


def test_a_database_locked_for_too_long_fails_the_create_cleanly(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "SQLITE_PATIENCE", 1.0)
    database = project / ".jellycell" / "cache" / "state.db"
    holder = sqlite3.connect(database)
    holder.execute("CREATE TABLE cells (key TEXT)")
    holder.executemany("INSERT INTO cells VALUES (?)", [(str(n),) for n in range(500)])
    holder.commit()
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO cells VALUES ('pending')")
    try:
        with pytest.raises(archive.CheckpointError) as failure:
            archive.create(project, name="while-locked")
    finally:
        holder.rollback()
        holder.close()

    assert failure.value.kind == "conflict"
    assert "stayed locked" in failure.value.message
    assert "\n" not in failure.value.message
    assert sorted(p.name for p in (project / ".jellycell" / "checkpoints").iterdir()) == []

    again = archive.create(project, name="after-unlock")
    assert archive.verify(project, again.name).ok
