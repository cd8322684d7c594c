"""What a checkpoint holds: the config, every existing root, the cache; never junk or itself."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from jellycell_jupyter import archive


def members(path: str | Path) -> dict[str, tarfile.TarInfo]:
    """The archive's members by name, as Python's tarfile reads them."""
    with tarfile.open(path) as tar:
        return {member.name: member for member in tar.getmembers()}


def test_the_config_every_existing_root_and_the_cache_go_in(project: Path) -> None:
    (project / "artifacts").mkdir()
    (project / "artifacts" / "figure.svg").write_text("<svg/>")
    (project / "site").mkdir()
    (project / "site" / "index.html").write_text("<html></html>")
    (project / "README.md").write_text("# not a root\n")
    (project / "scratch").mkdir()
    (project / "scratch" / "notes.txt").write_text("scratch")
    (project / ".jellycell" / "settings.local").write_text("beside the cache, not in it")

    report = archive.create(project)
    found = members(report.path)

    # tarfile drops the trailing "/" of folder names.
    assert set(found) == {
        "jellycell.toml",
        ".jellycell",
        ".jellycell/cache",
        ".jellycell/cache/blobs",
        ".jellycell/cache/blobs/ab",
        ".jellycell/cache/blobs/ab/abcdef",
        "artifacts",
        "artifacts/figure.svg",
        "data",
        "data/empty-dir",
        "data/table.csv",
        "manuscripts",
        "manuscripts/paper.md",
        "notebooks",
        "notebooks/analysis.py",
        "site",
        "site/index.html",
        "checkpoint.json",
    }
    assert found["data/empty-dir"].isdir()
    assert found["data/table.csv"].isfile()
    assert report.files == 7


def test_the_checkpoints_folder_never_goes_in_so_checkpoints_do_not_grow(project: Path) -> None:
    sizes = []
    for name in ("one", "two", "thr"):
        report = archive.create(project, name=name, message="same")
        sizes.append(report.size_bytes)
        names = set(members(report.path))
        assert not any(n.startswith(".jellycell/checkpoints") for n in names)
        assert report.files == 5

    assert sizes[2] <= sizes[0] + 64
    assert sizes[2] >= sizes[0] - 64


def test_a_checkpoints_folder_inside_a_root_stays_out(project: Path) -> None:
    # With the cache at data/cache, the checkpoints folder data/checkpoints lies
    # inside the data root, which the walk must still leave out.
    (project / "jellycell.toml").write_text(
        '[project]\nname = "nested"\n\n[paths]\ncache = "data/cache"\n'
    )
    (project / "data" / "cache").mkdir()
    (project / "data" / "cache" / "blob").write_bytes(b"x" * 1000)

    first = archive.create(project, name="one")
    third = None
    for name in ("two", "thr"):
        third = archive.create(project, name=name)

    assert third is not None
    assert Path(third.path).parent == project / "data" / "checkpoints"
    assert not any(n.startswith("data/checkpoints") for n in members(third.path))
    assert "data/cache/blob" in members(third.path)
    assert third.files == first.files
    assert abs(third.size_bytes - first.size_bytes) <= 64


JUNK_FOLDERS = [
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    ".git",
    ".venv",
    "venv",
    "node_modules",
]


def test_junk_is_skipped_at_any_depth(project: Path) -> None:
    places = [project / "notebooks", project / "data" / "deep" / "deeper", project / ".jellycell"]
    for place in places:
        place.mkdir(parents=True, exist_ok=True)
        for junk in JUNK_FOLDERS:
            (place / junk / "inner").mkdir(parents=True)
            (place / junk / "inner" / "file.txt").write_text("junk")
        (place / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (project / "data" / "deep" / "deeper" / "kept.txt").write_text("kept")
    # The names are junk only as folders (and .DS_Store only as a file).
    (project / "data" / "venv").write_text("a file named venv")
    (project / "data" / ".DS_Store-notes").write_text("not .DS_Store")

    names = set(members(archive.create(project).path))

    for name in names - {"data/venv"}:
        parts = set(name.split("/"))
        assert not parts & {*JUNK_FOLDERS, ".DS_Store"}, name
    assert "data/deep/deeper/kept.txt" in names
    assert "data/venv" in names
    assert "data/.DS_Store-notes" in names
    assert not any(n.startswith("notebooks/venv") for n in names)


def test_files_outside_the_roots_stay_out(project: Path) -> None:
    (project / "README.md").write_text("readme")
    (project / "scratch").mkdir()
    (project / "scratch" / "x.py").write_text("x = 1")
    (project / ".env").write_text("SECRET=1")
    (project / "notes.txt").write_text("notes")

    names = set(members(archive.create(project).path))

    assert not {"README.md", "scratch", "scratch/x.py", ".env", "notes.txt"} & names


def test_links_inside_are_kept_and_escaping_or_broken_ones_are_reported(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not archive me")
    data = project / "data"
    os.symlink("table.csv", data / "relative-link")
    os.symlink(project / "notebooks" / "analysis.py", data / "absolute-inside")
    os.symlink("../notebooks", data / "folder-link")
    os.symlink(outside, data / "outside-folder")
    os.symlink(outside / "secret.txt", data / "outside-file")
    os.symlink("loop-b", data / "loop-a")
    os.symlink("loop-a", data / "loop-b")
    os.symlink("self", data / "self")
    os.symlink("no-such-file", data / "dangling")
    os.symlink(outside, project / "artifacts")

    report = archive.create(project)
    found = members(report.path)

    assert found["data/relative-link"].issym()
    assert found["data/relative-link"].linkname == "table.csv"
    assert found["data/absolute-inside"].linkname == "../notebooks/analysis.py"
    assert found["data/folder-link"].linkname == "../notebooks"
    skipped = {item.path: item.reason for item in report.skipped}
    assert set(skipped) == {
        "data/outside-folder",
        "data/outside-file",
        "data/loop-a",
        "data/loop-b",
        "data/self",
        "data/dangling",
        "artifacts",
    }
    assert "leaves the project" in skipped["data/outside-folder"]
    assert "leaves the project" in skipped["data/outside-file"]
    assert "leaves the project" in skipped["artifacts"]
    assert skipped["data/loop-a"] == skipped["data/self"] == "link loop"
    assert skipped["data/dangling"] == "link to nothing"
    assert not any("secret" in name for name in found)
    assert not any(name.startswith(("artifacts/", "data/outside-folder/")) for name in found)
    sidecar = archive.CheckpointSummary.model_validate_json(
        Path(report.path).with_name(f"{report.name}.json").read_bytes()
    )
    assert sidecar.skipped == report.skipped

    restored = Path(archive.restore(project, report.name).target)
    assert os.readlink(restored / "data" / "relative-link") == "table.csv"
    assert (restored / "data" / "relative-link").read_text() == (data / "table.csv").read_text()
    assert os.readlink(restored / "data" / "absolute-inside") == "../notebooks/analysis.py"
    assert (restored / "data" / "folder-link" / "analysis.py").is_file()
    assert not os.path.lexists(restored / "data" / "outside-folder")
    assert not os.path.lexists(restored / "artifacts")


def test_special_files_are_reported_not_archived(project: Path) -> None:
    os.mkfifo(project / "data" / "pipe")

    report = archive.create(project)

    assert "data/pipe" not in members(report.path)
    assert [(s.path, s.reason) for s in report.skipped] == [
        ("data/pipe", "not a regular file, folder or link")
    ]


def test_files_counts_exactly_the_archived_files_and_links(project: Path) -> None:
    os.symlink("table.csv", project / "data" / "link")
    (project / "data" / "nested" / "more").mkdir(parents=True)
    for number in range(25):
        (project / "data" / "nested" / "more" / f"{number}.txt").write_text(str(number))

    report = archive.create(project)
    found = members(report.path)
    counted = [m for name, m in found.items() if not m.isdir() and name != "checkpoint.json"]

    assert report.files == len(counted) == 5 + 1 + 25
    summary = archive.list_checkpoints(project).checkpoints[0]
    assert summary.files == report.files


@pytest.mark.parametrize("mode", [0o600, 0o755, 0o640])
def test_file_modes_travel_with_the_file(project: Path, mode: int) -> None:
    script = project / "notebooks" / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(mode)

    report = archive.create(project)

    assert members(report.path)["notebooks/run.sh"].mode == mode
    restored = Path(archive.restore(project, report.name).target)
    assert (restored / "notebooks" / "run.sh").stat().st_mode & 0o777 == mode


def test_a_checkpoints_folder_that_is_a_link_into_a_root_stays_out(project: Path) -> None:
    # Someone keeps the checkpoints under data/ (say, on a bigger disk mounted there).
    (project / "data" / "kept-checkpoints").mkdir()
    (project / ".jellycell").mkdir(exist_ok=True)
    os.symlink("../data/kept-checkpoints", project / ".jellycell" / "checkpoints")

    first = archive.create(project, name="one")
    third = None
    for name in ("two", "thr"):
        third = archive.create(project, name=name)

    assert third is not None
    assert Path(third.path).resolve().parent == project / "data" / "kept-checkpoints"
    names = set(members(third.path))
    assert not any(n.startswith("data/kept-checkpoints/") for n in names), sorted(names)
    assert third.files == first.files
    assert abs(third.size_bytes - first.size_bytes) <= 64


def test_a_skipped_path_whose_name_is_not_utf8_is_reported_readably(project: Path) -> None:
    raw_data = bytes(project / "data")
    os.symlink(b"nowhere", raw_data + b"/dangling-\xff")
    os.mkfifo(raw_data + b"/pipe-\xe9")

    report = archive.create(project, name="odd")

    skipped = {item.path: item.reason for item in report.skipped}
    assert skipped == {
        "data/dangling-\\xff": "link to nothing",
        "data/pipe-\\xe9": "not a regular file, folder or link",
    }
    sidecar = json.loads((project / ".jellycell" / "checkpoints" / "odd.json").read_bytes())
    assert {item["path"] for item in sidecar["skipped"]} == set(skipped)
    assert report.model_dump_json()
    assert archive.verify(project, "odd").ok
