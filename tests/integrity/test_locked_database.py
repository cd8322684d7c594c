"""SQLite databases during a create: a long lock fails clearly, an idle one is left untouched."""

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


def test_a_database_nobody_has_open_is_left_exactly_as_found(project: Path) -> None:
    database = project / ".jellycell" / "cache" / "index.db"
    writer_connection = sqlite3.connect(database)
    writer_connection.execute("PRAGMA journal_mode=WAL")
    writer_connection.execute("CREATE TABLE cells (key TEXT)")
    writer_connection.executemany("INSERT INTO cells VALUES (?)", [(str(n),) for n in range(200)])
    writer_connection.commit()
    writer_connection.close()
    cache = database.parent
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in cache.iterdir()}

    archive.create(project, name="quiet")

    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in cache.iterdir()}
    assert after == before
    restored = Path(archive.restore(project, "quiet").target)
    rows = sqlite3.connect(restored / ".jellycell" / "cache" / "index.db").execute(
        "SELECT count(*) FROM cells"
    )
    assert rows.fetchone() == (200,)
