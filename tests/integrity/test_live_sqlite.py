"""SQLite databases in the cache while something writes to them: every committed row survives.

The project is a real one, made by the ``jellycell`` command line; its cache
holds jellycell's own databases. Writers insert numbered rows and commit each
one; before the checkpoint starts, the test reads the highest committed key,
and the restored database must pass ``PRAGMA integrity_check`` and hold every
key up to it. No ``-wal``, ``-shm`` or ``-journal`` file may be in the archive.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
from integrity_projects import child_environment

from jellycell_jupyter import archive

COMPANIONS = ("-wal", "-shm", "-journal")

WRITER = """
import sqlite3, sys, time
path, mode, spill = sys.argv[1], sys.argv[2], sys.argv[3]
database = sqlite3.connect(path, isolation_level=None, timeout=60)
database.execute(f"PRAGMA journal_mode={mode}")
database.execute("CREATE TABLE IF NOT EXISTS rows (key INTEGER PRIMARY KEY, value BLOB)")
if spill == "commits":
    key = 0
    while True:
        key += 1
        database.execute("BEGIN IMMEDIATE")
        database.execute("INSERT INTO rows VALUES (?, randomblob(300))", (key,))
        database.execute("COMMIT")
        if key % 50 == 0:
            print(key, flush=True)
else:
    # One long transaction over committed rows, large enough to spill into the file.
    database.execute("PRAGMA cache_size=5")
    database.execute("BEGIN IMMEDIATE")
    database.execute("UPDATE rows SET value = randomblob(700)")
    database.execute("DELETE FROM rows WHERE key % 3 = 0")
    print("in transaction", flush=True)
    time.sleep(float(spill))
    database.execute("ROLLBACK")
    print("rolled back", flush=True)
    time.sleep(600)
"""


def start_writer(database: Path, mode: str, spill: str) -> subprocess.Popen[str]:
    """A separate process writing to ``database``; it prints a line once under way."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(database), mode, spill],
        env=child_environment(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline(), "the writer stopped before it began"
    return process


def stop(process: subprocess.Popen[str]) -> None:
    """Kill a writer we started, by its PID."""
    process.kill()
    process.wait()


def committed_keys(database: Path) -> int:
    """The highest key committed so far, as a new reader sees it."""
    reader = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        return int(reader.execute("SELECT coalesce(max(key), 0) FROM rows").fetchone()[0])
    finally:
        reader.close()


def archived_names(report: archive.CheckpointCreateReport) -> list[str]:
    """Every member name of the archive, read with Python's tarfile."""
    with tarfile.open(report.path, "r:gz") as tar:
        return tar.getnames()


def assert_sound_copy(restored: Path, *, keys_at_least: int) -> int:
    """The restored database is intact and holds keys 1..``keys_at_least``; return its row count."""
    copy = sqlite3.connect(restored)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        held = copy.execute("SELECT count(*) FROM rows WHERE key <= ?", (keys_at_least,))
        assert held.fetchone()[0] == keys_at_least
        return int(copy.execute("SELECT count(*) FROM rows").fetchone()[0])
    finally:
        copy.close()


def assert_every_cache_database_sound(restored_cache: Path) -> None:
    """jellycell's own databases in the restored cache pass their integrity check."""
    databases = [path for path in restored_cache.rglob("*.db") if path.is_file()]
    assert databases, "the real project's cache holds no database"
    for path in databases:
        connection = sqlite3.connect(path)
        try:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
        finally:
            connection.close()


@pytest.mark.parametrize("mode", ["WAL", "DELETE"])
def test_a_process_committing_rows_during_the_checkpoint(
    mode: str, real_project: Path, tmp_path: Path
) -> None:
    database = real_project / ".jellycell" / "cache" / "live.db"
    writer = start_writer(database, mode, "commits")
    try:
        before = committed_keys(database)
        report = archive.create(real_project, name="live")
    finally:
        stop(writer)

    assert before >= 50
    names = archived_names(report)
    assert ".jellycell/cache/live.db" in names
    assert not [name for name in names if name.endswith(COMPANIONS)], names
    assert archive.verify(real_project, "live").ok

    archive.restore(real_project, "live", into=tmp_path / "restored")
    restored_cache = tmp_path / "restored" / ".jellycell" / "cache"
    assert_sound_copy(restored_cache / "live.db", keys_at_least=before)
    assert_every_cache_database_sound(restored_cache)


def test_a_notebook_kernel_committing_rows_during_the_checkpoint(
    real_project: Path, tmp_path: Path
) -> None:
    """The way a notebook writes: one connection in WAL mode, a loop of inserts and commits."""
    database = real_project / ".jellycell" / "cache" / "kernel.db"
    connection = sqlite3.connect(database, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE rows (key INTEGER PRIMARY KEY, value BLOB)")
    connection.commit()
    stopping = threading.Event()
    written = [0]

    def kernel() -> None:
        while not stopping.is_set():
            written[0] += 1
            connection.execute("INSERT INTO rows VALUES (?, randomblob(300))", (written[0],))
            connection.commit()

    thread = threading.Thread(target=kernel)
    thread.start()
    try:
        while written[0] < 200:
            time.sleep(0.01)
        before = committed_keys(database)
        report = archive.create(real_project, name="kernel")
    finally:
        stopping.set()
        thread.join()
        connection.close()

    assert not [name for name in archived_names(report) if name.endswith(COMPANIONS)]
    archive.restore(real_project, "kernel", into=tmp_path / "restored")
    restored_cache = tmp_path / "restored" / ".jellycell" / "cache"
    assert_sound_copy(restored_cache / "kernel.db", keys_at_least=before)
    assert_every_cache_database_sound(restored_cache)


def _committed_rows(database: Path, count: int, mode: str) -> None:
    connection = sqlite3.connect(database)
    connection.execute(f"PRAGMA journal_mode={mode}")
    connection.execute("CREATE TABLE rows (key INTEGER PRIMARY KEY, value BLOB)")
    connection.executemany(
        "INSERT INTO rows VALUES (?, randomblob(100))", ((key,) for key in range(1, count + 1))
    )
    connection.commit()
    connection.close()


@pytest.mark.parametrize("mode", ["DELETE", "MEMORY"])
def test_an_open_write_transaction_in_rollback_journal_mode(
    mode: str, real_project: Path, tmp_path: Path
) -> None:
    """A transaction large enough to write into the file holds it while the checkpoint runs.

    The backup must wait for it (here it ends in a rollback after a few
    seconds) or otherwise copy only committed rows. With its journal in
    memory, no file beside the database shows the writer: only its lock does.
    """
    database = real_project / ".jellycell" / "cache" / "journal.db"
    _committed_rows(database, 20_000, "DELETE")
    writer = start_writer(database, mode, "3")
    try:
        assert Path(f"{database}-journal").exists() == (mode == "DELETE")
        report = archive.create(real_project, name="journal")
    finally:
        stop(writer)

    assert not [name for name in archived_names(report) if name.endswith(COMPANIONS)]
    archive.restore(real_project, "journal", into=tmp_path / "restored")
    restored = tmp_path / "restored" / ".jellycell" / "cache" / "journal.db"
    assert assert_sound_copy(restored, keys_at_least=20_000) == 20_000


@pytest.mark.parametrize("mode", ["DELETE", "WAL"])
def test_a_writer_killed_in_the_middle_of_a_transaction(
    mode: str, real_project: Path, tmp_path: Path
) -> None:
    """A kernel that died mid-transaction leaves a hot journal (or a WAL) behind.

    The live database is sound, since SQLite undoes the transaction when it is
    next opened; its checkpoint must be just as sound, with every committed row.
    """
    database = real_project / ".jellycell" / "cache" / "crashed.db"
    _committed_rows(database, 20_000, mode)
    stop(start_writer(database, mode, "600"))
    left = {path: path.read_bytes() for path in database.parent.glob(f"{database.name}*")}

    report = archive.create(real_project, name="crashed")
    if mode == "DELETE":  # the hot journal is rolled back in copies, never in the project
        assert {p: p.read_bytes() for p in database.parent.glob(f"{database.name}*")} == left
    assert not [name for name in archived_names(report) if name.endswith(COMPANIONS)]
    archive.restore(real_project, "crashed", into=tmp_path / "restored")
    restored = tmp_path / "restored" / ".jellycell" / "cache" / "crashed.db"
    assert assert_sound_copy(restored, keys_at_least=20_000) == 20_000
    assert assert_sound_copy(database, keys_at_least=20_000) == 20_000, "the live database"


def test_a_create_in_a_process_holding_the_database_keeps_its_locks(
    real_project: Path,
) -> None:
    """A kernel may hold a transaction open while it checkpoints the project.

    POSIX record locks belong to the process: opening and closing the database
    file here would drop the kernel's own lock and let another writer in.
    """
    database = real_project / ".jellycell" / "cache" / "held.db"
    _committed_rows(database, 100, "DELETE")
    held = sqlite3.connect(database, isolation_level=None)
    try:
        held.execute("BEGIN IMMEDIATE")  # the RESERVED lock: no other writer
        archive.create(real_project, name="held")
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0); "
                "c.execute('BEGIN IMMEDIATE')",
                str(database),
            ],
            capture_output=True,
            text=True,
            env=child_environment(),
        )
        held.execute("ROLLBACK")
    finally:
        held.close()

    assert other.returncode != 0 and "database is locked" in other.stderr, other.stderr
