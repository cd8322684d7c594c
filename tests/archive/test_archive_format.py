"""The archive is a standard, self-describing, reproducible .tar.gz that other tools read."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from jellycell.cli.commands.checkpoint import CheckpointSummary as JellycellSummary

from jellycell_jupyter import archive
from jellycell_jupyter.archive import gzipmember, tarformat

CHECKPOINTS = ".jellycell/checkpoints"
GNU_TAR = shutil.which("tar")


@pytest.fixture
def live_database(project: Path) -> Iterator[sqlite3.Connection]:
    """A WAL-mode SQLite database in the data root, held open with rows only in its WAL."""
    connection = sqlite3.connect(project / "data" / "results.sqlite")
    connection.execute("create table runs (id integer primary key, value text)")
    connection.executemany("insert into runs (value) values (?)", [(f"v{i}",) for i in range(50)])
    connection.commit()
    connection.execute("pragma journal_mode=wal")
    connection.execute("pragma wal_autocheckpoint=0")
    connection.executemany(
        "insert into runs (value) values (?)", [(f"wal{i}",) for i in range(200)]
    )
    connection.commit()
    assert (project / "data" / "results.sqlite-wal").stat().st_size > 0
    yield connection
    connection.close()


@pytest.mark.skipif(GNU_TAR is None, reason="GNU tar is not installed")
def test_gnu_tar_lists_and_extracts_it(
    project: Path, tmp_path: Path, snapshot: Callable[..., dict], live_database: object
) -> None:
    os.symlink("table.csv", project / "data" / "link")
    report = archive.create(project)

    listing = subprocess.run(
        [GNU_TAR, "-tzf", report.path], capture_output=True, text=True, check=True
    )
    out = tmp_path / "by-gnu-tar"
    out.mkdir()
    subprocess.run([GNU_TAR, "-xzf", report.path, "-C", str(out)], check=True)

    with tarfile.open(report.path) as tar:
        names = [m.name + ("/" if m.isdir() else "") for m in tar.getmembers()]
    assert listing.stdout.splitlines() == names
    assert "data/results.sqlite" in names
    assert not any(name.endswith(("-wal", "-shm")) for name in names)
    assert snapshot(out, exclude=("checkpoint.json",)) == snapshot(project, exclude=(CHECKPOINTS,))


def test_python_tarfile_and_gzip_read_it(
    project: Path, tmp_path: Path, snapshot: Callable[..., dict], live_database: object
) -> None:
    report = archive.create(project)

    out = tmp_path / "by-tarfile"
    with tarfile.open(report.path, "r:gz") as tar:
        tar.extractall(out, filter="data")

    assert snapshot(out, exclude=("checkpoint.json",)) == snapshot(project, exclude=(CHECKPOINTS,))
    raw = gzip.decompress(Path(report.path).read_bytes())
    assert len(raw) % 512 == 0
    assert raw[-1024:] == bytes(1024)


@pytest.mark.xfail(
    strict=True,
    reason="tarfile's stream mode ('r|gz') decodes only the first gzip member of a "
    "multi-member file and then reports a normal end of archive",
)
def test_python_tarfile_stream_mode_reads_every_member(project: Path) -> None:
    report = archive.create(project)

    with tarfile.open(report.path, "r:gz") as tar:
        expected = tar.getnames()
    with tarfile.open(report.path, "r|gz") as stream:
        streamed = [member.name for member in stream]

    assert streamed == expected


def test_sqlite_rows_still_in_the_wal_are_captured(
    project: Path, tmp_path: Path, live_database: sqlite3.Connection
) -> None:
    report = archive.create(project)
    live_database.execute("insert into runs (value) values ('after the checkpoint')")
    live_database.commit()

    restored = Path(archive.restore(project, report.name, into=tmp_path / "r").target)
    copy = sqlite3.connect(restored / "data" / "results.sqlite")
    try:
        values = [row[0] for row in copy.execute("select value from runs order by id")]
        assert copy.execute("pragma integrity_check").fetchone() == ("ok",)
    finally:
        copy.close()

    assert values == [f"v{i}" for i in range(50)] + [f"wal{i}" for i in range(200)]


def test_the_embedded_summary_is_jellycells_own_model(project: Path) -> None:
    report = archive.create(project, message="embedded")

    with tarfile.open(report.path) as tar:
        member = tar.getmember("checkpoint.json")
        body = tar.extractfile(member).read()  # type: ignore[union-attr]
    theirs = JellycellSummary.model_validate_json(body)
    ours = archive.CheckpointSummary.model_validate_json(body)
    sidecar_bytes = Path(report.path).with_name(f"{report.name}.json").read_bytes()
    sidecar = JellycellSummary.model_validate_json(sidecar_bytes)

    assert theirs.project_name == "demo"
    assert theirs.message == "embedded"
    assert theirs.files == report.files == sidecar.files
    assert theirs.size_bytes == report.size_bytes == os.path.getsize(report.path)
    assert sidecar.size_bytes == report.size_bytes
    assert theirs.created_at == sidecar.created_at
    assert ours.index is not None
    assert len(ours.index.entries) == len(tar_names(report.path)) - 1
    assert json.loads(sidecar_bytes)["archive_sha256"] == report.archive_sha256


def tar_names(path: str) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_the_same_tree_gives_the_same_bytes_up_to_the_summary(
    bulky_project: Path, checkpoints: Path
) -> None:
    # A first checkpoint creates the checkpoints folder (which touches .jellycell's
    # mtime); after it is deleted, neither later archive can copy from another.
    archive.delete(bulky_project, archive.create(bulky_project, name="warm-up").name)
    first = archive.create(bulky_project, name="first")
    first_bytes = Path(first.path).read_bytes()
    first_offset = archive.CheckpointSummary.model_validate_json(
        (checkpoints / "first.json").read_bytes()
    ).index_offset
    archive.delete(bulky_project, "first")

    second = archive.create(bulky_project, name="second")
    second_bytes = Path(second.path).read_bytes()
    second_offset = archive.CheckpointSummary.model_validate_json(
        (checkpoints / "second.json").read_bytes()
    ).index_offset

    assert first.reused_bytes == second.reused_bytes == 0
    assert first_offset is not None
    assert first_offset == second_offset
    assert first_offset > 0.9 * len(first_bytes)
    assert first_bytes[:first_offset] == second_bytes[:second_offset]


@pytest.fixture
def awkward_names(project: Path) -> Path:
    """Names ustar cannot hold: non-ASCII, over 100 bytes, a newline, bytes that are not UTF-8."""
    data = project / "data"
    (data / "café ☕ naïve.txt").write_text("unicode")
    (data / ("long-" + "x" * 200 + ".txt")).write_text("long")
    deep = data / ("dir-" + "y" * 90) / ("sub-" + "z" * 90)
    deep.mkdir(parents=True)
    (deep / "file.txt").write_text("deep")
    os.symlink(os.path.relpath(deep / "file.txt", data), data / "long-link")
    (data / "new\nline.txt").write_text("newline")
    latin1 = Path(os.fsdecode(bytes(data) + b"/r\xe9sum\xe9"))
    latin1.mkdir()
    (latin1 / "notes.txt").write_text("not utf-8 above")
    return project


@pytest.mark.skipif(GNU_TAR is None, reason="GNU tar is not installed")
def test_awkward_names_survive_every_reader(
    awkward_names: Path, tmp_path: Path, snapshot: Callable[..., dict]
) -> None:
    report = archive.create(awkward_names)

    by_gnu = tmp_path / "by-gnu-tar"
    by_gnu.mkdir()
    subprocess.run([GNU_TAR, "-xzf", report.path, "-C", str(by_gnu)], check=True)
    by_tarfile = tmp_path / "by-tarfile"
    with tarfile.open(report.path) as tar:
        tar.extractall(by_tarfile, filter="data")
    by_us = Path(archive.restore(awkward_names, report.name, into=tmp_path / "by-us").target)

    expected = snapshot(awkward_names, exclude=(CHECKPOINTS,))
    assert report.skipped == []
    assert snapshot(by_gnu, exclude=("checkpoint.json",)) == expected
    assert snapshot(by_tarfile, exclude=("checkpoint.json",)) == expected
    assert snapshot(by_us) == expected
    assert archive.verify(awkward_names, report.name).ok
    again = archive.create(awkward_names)
    assert again.reused_bytes > 0
    assert archive.verify(awkward_names, again.name).ok


def test_the_embedded_summary_stays_strict_json_with_awkward_names(awkward_names: Path) -> None:
    report = archive.create(awkward_names)

    with tarfile.open(report.path) as tar:
        body = tar.extractfile("checkpoint.json").read()  # type: ignore[union-attr]

    assert JellycellSummary.model_validate_json(body).files == report.files


def test_bytes_that_do_not_compress_are_spared_the_strongest_level() -> None:
    noise = random.Random(7).randbytes(1 << 20)
    text = b"".join(b"%d,site-%03d,%.3f\n" % (i, i % 150, i / 7) for i in range(60_000))
    half = noise[: len(noise) // 2] + text[: len(noise) // 2]

    assert gzipmember.level_for(noise) == gzipmember.LEVEL_INCOMPRESSIBLE
    assert gzipmember.level_for(text) == gzipmember.LEVEL
    # One compressible sample is enough, and small members are never sampled.
    assert gzipmember.level_for(half) == gzipmember.LEVEL
    assert gzipmember.level_for(noise[: 200 << 10]) == gzipmember.LEVEL

    # A large file's first piece starts with its tar header, its last ends in padding.
    first_piece = tarformat.header("data/image.png", tarformat.REGULAR, 1 << 22, 0, 0o644) + noise
    last_piece = noise + bytes(tarformat.padding(len(noise) + 7))
    assert gzipmember.level_for(first_piece) == gzipmember.LEVEL_INCOMPRESSIBLE
    assert gzipmember.level_for(last_piece) == gzipmember.LEVEL_INCOMPRESSIBLE

    for raw in (noise, text, half, noise[: 200 << 10], first_piece, b""):
        member = b"".join(gzipmember.compress_member(raw, one_file=True))
        assert gzip.decompress(member) == raw
        copy = bytearray(raw)  # the same bytes in another buffer make the same member
        assert member == b"".join(gzipmember.compress_member(copy, one_file=True))
    # Small files together, with their headers and padding, always get the strongest level.
    assert gzipmember.compress_member(noise) != gzipmember.compress_member(noise, one_file=True)
    # Random bytes grow by next to nothing.
    assert len(b"".join(gzipmember.compress_member(noise, one_file=True))) < len(noise) * 1.001
