"""The project model: finding a project, reading jellycell.toml tolerantly, never writing it."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointError


def test_found_by_walking_up_from_a_nested_folder_or_file(project: Path) -> None:
    from_folder = archive.find_project(project / "data" / "empty-dir")
    from_file = archive.find_project(project / "notebooks" / "analysis.py")
    from_string = archive.find_project(str(project / "manuscripts"))

    assert from_folder.root == project.resolve()
    assert from_file.root == project.resolve()
    assert from_string.root == project.resolve()
    assert from_folder.name == "demo"


def test_the_nearest_project_wins(project: Path) -> None:
    inner = project / "data" / "inner"
    inner.mkdir()
    (inner / "jellycell.toml").write_text('[project]\nname = "inner"\n')

    assert archive.find_project(inner).name == "inner"
    assert archive.find_project(project / "data").name == "demo"


def test_outside_any_project_or_a_missing_path_is_not_found(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()

    with pytest.raises(CheckpointError) as outside:
        archive.find_project(lonely)
    with pytest.raises(CheckpointError) as missing:
        archive.find_project(tmp_path / "no" / "such" / "folder")

    assert outside.value.kind == "not_found"
    assert "jellycell.toml" in outside.value.message
    assert missing.value.kind == "not_found"
    assert "does not exist" in missing.value.message


def test_projects_of_a_monorepo_are_found_below_a_folder(tmp_path: Path, project: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "jellycell.toml").write_text('[project]\nname = "other"\n')
    (tmp_path / "plain").mkdir()

    found = archive.find_projects_below(tmp_path)

    assert [(p.name, p.root) for p in found] == [("demo", project), ("other", other)]


def test_unknown_tables_and_keys_are_ignored(project: Path) -> None:
    (project / "jellycell.toml").write_text(
        """\
[project]
name = "tolerant"
version = 3
future_key = { nested = true }

[paths]
data = "data"
something_new = "elsewhere"

[run]
kernel = "python3"

[viewer]
port = 5179

[a_table_from_the_future]
x = [1, 2, 3]
"""
    )

    loaded = archive.load_project(project)

    assert loaded.name == "tolerant"
    assert set(loaded.roots) == {"notebooks", "data", "artifacts", "site", "manuscripts", "cache"}
    assert loaded.roots["data"] == project / "data"
    assert archive.create(loaded).files > 0


@pytest.mark.parametrize(
    "toml",
    [
        "",
        "[project]\n",
        '[project]\nname = ""\n',
        "[project]\nname = 3\n",
        '[paths]\ndata = "data"\n',
    ],
    ids=["empty", "no-name", "blank-name", "number-name", "no-project-table"],
)
def test_a_missing_project_name_is_a_clear_error(project: Path, toml: str) -> None:
    (project / "jellycell.toml").write_text(toml)

    with pytest.raises(CheckpointError) as caught:
        archive.find_project(project / "data")

    assert str(project / "jellycell.toml") in caught.value.message
    assert "name" in caught.value.message
    assert "\n" not in str(caught.value)


def test_invalid_toml_is_an_error_naming_the_file(project: Path) -> None:
    (project / "jellycell.toml").write_text('[project\nname = "broken"\n')

    with pytest.raises(CheckpointError) as caught:
        archive.create(project)

    assert caught.value.kind == "invalid"
    assert str(project / "jellycell.toml") in caught.value.message
    assert "TOML" in caught.value.message
    assert not (project / ".jellycell" / "checkpoints").exists()


def test_custom_paths_choose_every_root_and_the_checkpoints_follow_the_cache(
    project: Path,
) -> None:
    (project / "jellycell.toml").write_text(
        """\
[project]
name = "custom"

[paths]
notebooks = "src/nb"
data = "inputs"
artifacts = "out/artifacts"
site = "out/site"
manuscripts = "papers"
cache = "build/jc-cache"
"""
    )
    for folder, file in [
        ("src/nb", "a.py"),
        ("inputs", "b.csv"),
        ("out/artifacts", "c.png"),
        ("out/site", "index.html"),
        ("papers", "d.md"),
        ("build/jc-cache/blobs", "e"),
    ]:
        (project / folder).mkdir(parents=True)
        (project / folder / file).write_text(f"{folder}/{file}\n")
    (project / "build" / "other-tool").mkdir()
    (project / "build" / "other-tool" / "x.o").write_bytes(b"\0")

    loaded = archive.find_project(project / "inputs")
    report = archive.create(project, name="custom")

    assert loaded.roots["cache"] == project / "build" / "jc-cache"
    assert loaded.checkpoints_dir == project / "build" / "checkpoints"
    assert Path(report.path) == project / "build" / "checkpoints" / "custom.tar.gz"
    assert (project / "build" / "checkpoints" / "custom.json").is_file()
    assert not (project / ".jellycell" / "checkpoints").exists()
    with tarfile.open(report.path) as tar:
        files = {m.name for m in tar.getmembers() if not m.isdir()}
    assert files == {
        "jellycell.toml",
        "src/nb/a.py",
        "inputs/b.csv",
        "out/artifacts/c.png",
        "out/site/index.html",
        "papers/d.md",
        "build/jc-cache/blobs/e",
        "checkpoint.json",
    }
    # The default-named folders are no longer roots, so they stay out.
    assert report.files == 7
    assert [c.name for c in archive.list_checkpoints(project / "papers").checkpoints] == ["custom"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("data", "../x"),
        ("cache", "../../elsewhere/cache"),
        ("notebooks", "/tmp/absolute-notebooks"),
        ("artifacts", "inner/../../x"),
        ("site", "."),
    ],
)
def test_a_path_escaping_the_project_is_refused(project: Path, key: str, value: str) -> None:
    config = project / "jellycell.toml"
    config.write_text(f'[project]\nname = "demo"\n\n[paths]\n{key} = "{value}"\n')
    outside = project.parent / "x"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")

    with pytest.raises(CheckpointError) as caught:
        archive.create(project)

    assert caught.value.kind == "forbidden"
    assert key in caught.value.message
    assert value in caught.value.message
    assert str(config) in caught.value.message
    assert not (project / ".jellycell" / "checkpoints").exists()


def test_a_bad_root_stops_new_checkpoints_but_not_the_old_ones(
    project: Path, tmp_path: Path
) -> None:
    made = archive.create(project, name="before")
    config = project / "jellycell.toml"
    config.write_text('[project]\nname = "demo"\n\n[paths]\ndata = "../elsewhere"\n')

    with pytest.raises(CheckpointError) as caught:
        archive.create(project, name="after")

    assert caught.value.kind == "forbidden"
    assert "../elsewhere" in caught.value.message
    assert [c.name for c in archive.list_checkpoints(project).checkpoints] == [made.name]
    assert archive.verify(project, made.name).ok
    restored = Path(archive.restore(project, made.name, into=tmp_path / "back").target)
    assert (restored / "data" / "table.csv").is_file()


def test_jellycell_toml_is_never_written(project: Path, tmp_path: Path) -> None:
    config = project / "jellycell.toml"
    config.write_text('[project]\nname = "demo"\n# a comment jellycell keeps\n[run]\nx = 1\n')
    before = (config.read_bytes(), config.stat().st_mtime_ns, config.stat().st_ino)

    made = archive.create(project, message="m")
    archive.list_checkpoints(project)
    archive.verify(project, made.name)
    archive.restore(project, made.name)
    archive.restore(project, made.name, into=tmp_path / "elsewhere")
    archive.delete(project, made.name)

    after = (config.read_bytes(), config.stat().st_mtime_ns, config.stat().st_ino)
    assert after == before
