"""Interop with the real jellycell command line, both ways, on a project jellycell made."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jellycell.cli.commands import checkpoint as jellycell_models

from jellycell_jupyter import archive

JELLYCELL = Path(sys.executable).with_name("jellycell")
CHECKPOINTS = ".jellycell/checkpoints"


def _succeeded(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command line; fail with its output if it fails."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result


def jellycell_json(*words: str, cwd: Path) -> Any:
    """Run ``jellycell --json ...`` and return its JSON."""
    return json.loads(_succeeded([str(JELLYCELL), "--json", *words], cwd).stdout)


def ours_json(*words: str, cwd: Path) -> Any:
    """Run ``python -m jellycell_jupyter ... --json``; return its JSON, all it prints."""
    result = _succeeded([sys.executable, "-m", "jellycell_jupyter", *words, "--json"], cwd)
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_the_real_project_has_a_sqlite_cache(real_project: Path) -> None:
    databases = [
        path
        for path in (real_project / ".jellycell" / "cache").rglob("*")
        if path.is_file() and path.read_bytes()[:16] == b"SQLite format 3\0"
    ]

    assert databases, "jellycell run left no SQLite database in the cache"


def test_our_checkpoint_is_listed_and_restored_by_jellycell(
    real_project: Path, tmp_path: Path, snapshot: Callable[..., dict]
) -> None:
    made = ours_json(
        "create", "-m", "made by jellycell-jupyter", "--name", "ours", cwd=real_project
    )
    jellycell_models.CheckpointCreateReport.model_validate(made)

    listed = jellycell_models.CheckpointListReport.model_validate(
        jellycell_json("checkpoint", "list", cwd=real_project)
    )
    target = tmp_path / "restored-by-jellycell"
    restored = jellycell_models.CheckpointRestoreReport.model_validate(
        jellycell_json("checkpoint", "restore", "ours", "--into", str(target), cwd=real_project)
    )

    [entry] = listed.checkpoints
    assert entry.name == "ours"
    assert entry.message == "made by jellycell-jupyter"
    assert entry.size_bytes == made["size_bytes"]
    assert entry.path == made["path"]
    assert Path(restored.target) == target
    # jellycell extracts the embedded summary too; it is the one file a project lacks.
    summary = jellycell_models.CheckpointSummary.model_validate_json(
        (target / "checkpoint.json").read_bytes()
    )
    assert summary.files == made["files"]
    assert snapshot(target, exclude=("checkpoint.json",)) == snapshot(
        real_project, exclude=(CHECKPOINTS,)
    )


def test_jellycells_checkpoint_is_listed_verified_and_restored_by_us(
    real_project: Path, tmp_path: Path, snapshot: Callable[..., dict]
) -> None:
    before = snapshot(real_project, exclude=(CHECKPOINTS,))
    made = jellycell_models.CheckpointCreateReport.model_validate(
        jellycell_json(
            "checkpoint", "create", "-m", "made by jellycell", "--name", "theirs", cwd=real_project
        )
    )

    listed = ours_json("list", cwd=real_project / "notebooks")
    checked = archive.verify(real_project, "theirs")
    target = tmp_path / "restored-by-us"
    restored = ours_json("restore", "theirs", "--into", str(target), cwd=real_project)

    list_report = jellycell_models.CheckpointListReport.model_validate(listed)
    [entry] = list_report.checkpoints
    assert entry.name == "theirs"
    assert entry.message == "made by jellycell"
    assert entry.size_bytes == made.size_bytes
    assert entry.path == made.path
    assert listed["checkpoints"][0]["status"] == "ok"
    assert listed["checkpoints"][0]["files"] == made.files
    assert checked.ok, checked.problems
    # jellycell counts the archive it is writing, which tarfile then leaves out; the
    # count that matters is what the archive holds.
    with tarfile.open(made.path) as tar:
        held = [m for m in tar.getmembers() if m.isfile() and m.name != "checkpoint.json"]
    assert checked.files == len(held)
    assert jellycell_models.CheckpointRestoreReport.model_validate(restored).target == str(target)
    assert not (target / "checkpoint.json").exists()
    # jellycell archives its own checkpoints folder too; the project's files are what count.
    assert snapshot(target, exclude=(CHECKPOINTS,)) == before

    ours = archive.create(real_project, name="after-theirs")
    assert archive.verify(real_project, ours.name).ok
    names = [e.name for e in archive.list_checkpoints(real_project).checkpoints]
    assert set(names) == {"theirs", "after-theirs"}


def _state_of_every_folder(root: Path) -> dict[str, int]:
    return {
        str(folder.relative_to(root)): folder.stat().st_mtime_ns
        for folder in [root, *root.rglob("*")]
        if folder.is_dir() and ".jellycell/checkpoints" not in str(folder)
    }


def test_a_real_project_gives_the_same_bytes_twice_and_is_left_as_found(
    real_project: Path, tmp_path: Path
) -> None:
    # jellycell keeps its cache index in SQLite; a create must not open it (which
    # makes and removes -wal and -shm files) when nobody has it open.
    databases = [
        path
        for path in (real_project / ".jellycell" / "cache").rglob("*")
        if path.is_file() and path.read_bytes()[:16] == b"SQLite format 3\0"
    ]
    assert databases
    originals = {path: path.read_bytes() for path in databases}
    archive.delete(real_project, archive.create(real_project, name="warm-up").name)
    folders = _state_of_every_folder(real_project)

    first = archive.create(real_project, name="first")
    first_bytes = Path(first.path).read_bytes()
    archive.delete(real_project, "first")
    second = archive.create(real_project, name="second")
    second_bytes = Path(second.path).read_bytes()

    assert _state_of_every_folder(real_project) == folders
    offset = archive.CheckpointSummary.model_validate_json(
        Path(second.path).with_suffix("").with_suffix(".json").read_bytes()
    ).index_offset
    assert offset is not None and offset > 0
    assert first_bytes[:offset] == second_bytes[:offset]
    restored = Path(archive.restore(real_project, "second", into=tmp_path / "back").target)
    for path, data in originals.items():
        assert (restored / path.relative_to(real_project)).read_bytes() == data, path
