"""Restoring: where a checkpoint lands, what is refused, and that the live project is untouched."""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointError, reader
from jellycell_jupyter.archive.extract import Outcome, Unfit

pytestmark = pytest.mark.usefixtures("reading")

CHECKPOINTS = ".jellycell/checkpoints"


@pytest.fixture
def made(project: Path) -> archive.CheckpointCreateReport:
    """A checkpoint ``saved`` of the hand-made project, with a link in it."""
    os.symlink("table.csv", project / "data" / "link")
    return archive.create(project, name="saved", message="to restore")


def everything_below(folder: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(top, name), folder)
        for top, folders, files in os.walk(folder)
        for name in folders + files
    )


def write_mark(folder: Path, token: str) -> None:
    """The mark a restore keeps in its staging folder, as it writes it."""
    name = f".jellycell-restoring-{token}.lock"
    (folder / name).write_text(f"jellycell-jupyter restoring here: {name}\n")


def test_by_default_into_a_new_sibling_folder(
    project: Path, made: archive.CheckpointCreateReport, snapshot: Callable[..., dict]
) -> None:
    live = snapshot(project)

    report = archive.restore(project, "saved")

    target = project.parent / "demo-restored-saved"
    assert report.target == str(target)
    assert report.source == made.path
    assert report.project == str(project)
    assert report.name == "saved"
    assert report.files == made.files == 6
    assert report.merged is False
    assert snapshot(target) == snapshot(project, exclude=(CHECKPOINTS,))
    assert not (target / "checkpoint.json").exists()
    assert os.readlink(target / "data" / "link") == "table.csv"
    assert (target / "data" / "empty-dir").is_dir()
    assert snapshot(project) == live
    assert archive.default_restore_target(project, "saved") == target


def test_file_times_are_restored(project: Path, made: archive.CheckpointCreateReport) -> None:
    target = Path(archive.restore(project, "saved").target)

    for name in ("data/table.csv", "notebooks/analysis.py", "jellycell.toml"):
        assert int((target / name).stat().st_mtime) == int((project / name).stat().st_mtime)


def test_link_times_are_restored(project: Path, tmp_path: Path) -> None:
    link = project / "data" / "dated-link"
    os.symlink("table.csv", link)
    os.utime(link, (1_300_000_000, 1_300_000_000), follow_symlinks=False)
    archive.create(project, name="linked")

    target = Path(archive.restore(project, "linked", into=tmp_path / "back").target)

    assert (target / "data" / "dated-link").lstat().st_mtime == 1_300_000_000
    assert os.readlink(target / "data" / "dated-link") == "table.csv"


def test_into_a_new_folder_with_missing_parents(
    project: Path,
    tmp_path: Path,
    made: archive.CheckpointCreateReport,
    snapshot: Callable[..., dict],
) -> None:
    target = tmp_path / "review" / "for-alice" / "state"

    report = archive.restore(project, "saved", into=target)

    assert report.target == str(target)
    assert snapshot(target) == snapshot(project, exclude=(CHECKPOINTS,))


def test_into_an_existing_empty_folder(
    project: Path, tmp_path: Path, made: archive.CheckpointCreateReport
) -> None:
    target = tmp_path / "empty"
    target.mkdir()

    report = archive.restore(project, "saved", into=target)

    assert report.merged is False
    assert (target / "data" / "table.csv").is_file()


def test_a_non_empty_folder_is_refused_without_force(
    project: Path,
    tmp_path: Path,
    made: archive.CheckpointCreateReport,
    snapshot: Callable[..., dict],
) -> None:
    target = tmp_path / "busy"
    (target / "data").mkdir(parents=True)
    (target / "data" / "table.csv").write_text("mine")
    (target / "keep.txt").write_text("keep")
    before = snapshot(target)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "saved", into=target)

    assert caught.value.kind == "conflict"
    assert "--force" in caught.value.message
    assert snapshot(target) == before
    assert [n for n in os.listdir(tmp_path) if "restoring" in n] == []


def test_force_merges_over_a_non_empty_folder(
    project: Path, tmp_path: Path, made: archive.CheckpointCreateReport
) -> None:
    target = tmp_path / "busy"
    (target / "data").mkdir(parents=True)
    (target / "data" / "table.csv").write_text("mine")
    (target / "data" / "link").write_text("a file where the archive has a link")
    (target / "keep.txt").write_text("keep")

    report = archive.restore(project, "saved", into=target, force=True)

    assert report.merged is True
    assert (target / "keep.txt").read_text() == "keep"
    assert (target / "data" / "table.csv").read_text() == (
        project / "data" / "table.csv"
    ).read_text()
    assert os.readlink(target / "data" / "link") == "table.csv"
    assert (target / "notebooks" / "analysis.py").is_file()
    assert not (target / "checkpoint.json").exists()
    assert [n for n in os.listdir(tmp_path) if "restoring" in n] == []
    assert [n for n in os.listdir(target) if "restoring" in n] == []


def test_force_never_writes_through_a_link_in_the_target(
    project: Path, tmp_path: Path, made: archive.CheckpointCreateReport
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "table.csv").write_text("must stay")
    target = tmp_path / "busy"
    target.mkdir()
    os.symlink(elsewhere, target / "data")

    archive.restore(project, "saved", into=target, force=True)

    assert (elsewhere / "table.csv").read_text() == "must stay"
    assert sorted(os.listdir(elsewhere)) == ["table.csv"]
    assert not (target / "data").is_symlink()
    assert (target / "data" / "table.csv").read_text().startswith("a,b")


def test_into_an_existing_file_is_refused(
    project: Path, tmp_path: Path, made: archive.CheckpointCreateReport
) -> None:
    target = tmp_path / "a-file"
    target.write_text("untouched")

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "saved", into=target, force=True)

    assert caught.value.kind == "invalid"
    assert str(target) in caught.value.message
    assert target.read_text() == "untouched"


@pytest.mark.parametrize(
    "inside",
    [
        ".",
        "data",
        "data/new-folder",
        "notebooks/deep/er",
        ".jellycell/cache/x",
        ".jellycell/checkpoints/x",
        "site",
    ],
)
def test_the_live_project_is_never_a_target(
    project: Path,
    made: archive.CheckpointCreateReport,
    snapshot: Callable[..., dict],
    inside: str,
) -> None:
    before = snapshot(project)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "saved", into=project / inside, force=True)

    assert caught.value.kind == "forbidden"
    assert "live project" in caught.value.message
    assert snapshot(project) == before


def test_a_link_to_the_live_project_is_not_a_way_in(
    project: Path,
    tmp_path: Path,
    made: archive.CheckpointCreateReport,
    snapshot: Callable[..., dict],
) -> None:
    os.symlink(project, tmp_path / "alias")
    before = snapshot(project)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "saved", into=tmp_path / "alias" / "data", force=True)

    assert caught.value.kind == "forbidden"
    assert snapshot(project) == before


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".", "/etc/passwd", "saved/../saved", ""])
def test_a_name_that_is_not_a_checkpoint_name_is_refused(
    project: Path, tmp_path: Path, made: archive.CheckpointCreateReport, name: str
) -> None:
    before = everything_below(tmp_path)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, name)

    assert caught.value.kind == "invalid"
    assert everything_below(tmp_path) == before


def test_an_unknown_name_is_not_found(
    project: Path, tmp_path: Path, made: archive.CheckpointCreateReport
) -> None:
    before = everything_below(tmp_path)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "nope")

    assert caught.value.kind == "not_found"
    assert "nope" in caught.value.message
    assert everything_below(tmp_path) == before


def test_the_archive_suffix_may_be_given(
    project: Path, made: archive.CheckpointCreateReport
) -> None:
    report = archive.restore(project, "saved.tar.gz")

    assert report.target == str(project.parent / "demo-restored-saved")


def test_progress_is_reported(project: Path, made: archive.CheckpointCreateReport) -> None:
    seen: list[archive.Progress] = []

    archive.restore(project, "saved", progress=seen.append)

    assert seen
    assert {item.phase for item in seen} == {"restore"}
    assert seen[-1].files_done == made.files
    assert seen[-1].bytes_done == seen[-1].bytes_total == made.size_bytes


def test_a_restored_project_is_a_project_of_its_own(
    project: Path, made: archive.CheckpointCreateReport
) -> None:
    target = Path(archive.restore(project, "saved").target)

    copy = archive.find_project(target / "data")

    assert copy.root == target
    assert copy.name == "demo"
    assert archive.list_checkpoints(copy).checkpoints == []
    assert archive.create(copy, name="from-the-copy").files == made.files


def test_concurrent_restores_into_one_folder_let_exactly_one_win(
    project: Path,
    tmp_path: Path,
    made: archive.CheckpointCreateReport,
    snapshot: Callable[..., dict],
) -> None:
    target = tmp_path / "contested"
    barrier = threading.Barrier(3)
    outcomes: list[object] = []

    def one() -> None:
        barrier.wait()
        try:
            outcomes.append(archive.restore(project, "saved", into=target))
        except CheckpointError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    won = [o for o in outcomes if isinstance(o, archive.CheckpointRestoreReport)]
    lost = [o for o in outcomes if isinstance(o, CheckpointError)]
    assert len(won) == 1 and len(lost) == 2
    assert {error.kind for error in lost} == {"conflict"}
    assert snapshot(target) == snapshot(project, exclude=(CHECKPOINTS,))
    assert [n for n in os.listdir(tmp_path) if "restoring" in n] == []


def test_a_target_that_cannot_be_made_is_named_in_the_error(
    project: Path, made: archive.CheckpointCreateReport
) -> None:
    # /proc refuses new folders even to root, which no permission bit can do here.
    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "saved", into="/proc/not-here")

    assert caught.value.kind == "environment"
    assert "/proc/not-here" in caught.value.message
    assert "restoring" not in caught.value.message


def test_a_folder_holding_the_live_project_is_never_a_target(
    tmp_path: Path, snapshot: Callable[..., dict]
) -> None:
    # A project whose folder is called "data": merging its checkpoint into the
    # folder above would write the archive's data/ into the live project.
    monorepo = tmp_path / "mono"
    live = monorepo / "data"
    (live / "data").mkdir(parents=True)
    (live / "jellycell.toml").write_text('[project]\nname = "named-data"\n')
    (live / "data" / "table.csv").write_text("v1\n")
    archive.create(live, name="old")
    (live / "data" / "table.csv").write_text("v2\n")
    before = snapshot(live)

    for ancestor in (monorepo, tmp_path):
        with pytest.raises(CheckpointError) as caught:
            archive.restore(live, "old", into=ancestor, force=True)
        assert caught.value.kind == "forbidden"
        assert str(ancestor) in caught.value.message

    assert snapshot(live) == before
    assert sorted(os.listdir(monorepo)) == ["data"]


def test_an_archive_that_is_a_link_is_refused_by_every_verb(project: Path, tmp_path: Path) -> None:
    made = archive.create(project, name="real")
    elsewhere = tmp_path / "elsewhere.tar.gz"
    Path(made.path).rename(elsewhere)
    Path(made.path).symlink_to(elsewhere)

    for verb in (
        lambda: archive.restore(project, "real", into=tmp_path / "target"),
        lambda: archive.verify(project, "real"),
        lambda: archive.delete(project, "real"),
    ):
        with pytest.raises(archive.CheckpointError) as refused:
            verb()
        assert refused.value.kind == "forbidden"
        assert "is a link" in refused.value.message
    assert not (tmp_path / "target").exists()
    assert elsewhere.is_file()
    assert archive.list_checkpoints(project).checkpoints == []


def test_what_a_killed_restore_left_goes_with_the_next_restore_there(
    project: Path,
    tmp_path: Path,
    made: archive.CheckpointCreateReport,
    snapshot: Callable[..., dict],
) -> None:
    target = tmp_path / "again"

    def staging(token: str, *, mark: str | None = None) -> Path:
        """A folder named as a restore into ``target`` names it, marked as ``mark`` says."""
        folder = tmp_path / f".again.restoring-{token}"
        (folder / "data").mkdir(parents=True, mode=0o700)
        (folder / "data" / "half.csv").write_text("half")
        if mark is not None:
            write_mark(folder, mark)
        return folder

    # What a restore killed midway leaves: its half-filled folder, its mark unlocked.
    left = staging("0123abcd", mark="0123abcd")
    # Look-alikes no restore left, or one a restore is still filling: all stay.
    unmarked = staging("4567abcd")  # a user's folder, or a restore's after it published
    blank_mark = staging("2468ace0")  # a mark this package did not write
    (blank_mark / ".jellycell-restoring-2468ace0.lock").write_text("")
    wrong_mark = staging("89abcdef", mark="0123abcd")
    busy = staging("fedcba98", mark="fedcba98")
    linked_mark = staging("76543210")
    other_target = tmp_path / ".elsewhere.restoring-0123abcd"
    other_target.mkdir(0o700)
    write_mark(other_target, "0123abcd")
    mine = tmp_path / "mine"
    mine.mkdir(0o700)
    write_mark(mine, "13572468")
    os.symlink(mine, tmp_path / ".again.restoring-13572468")
    os.symlink(
        mine / ".jellycell-restoring-13572468.lock",
        linked_mark / ".jellycell-restoring-76543210.lock",
    )
    held = os.open(busy / ".jellycell-restoring-fedcba98.lock", os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        archive.restore(project, "saved", into=target)
    finally:
        os.close(held)

    assert not left.exists()
    for kept in (unmarked, blank_mark, wrong_mark, busy, linked_mark):
        assert (kept / "data" / "half.csv").read_text() == "half", kept
    assert (other_target / ".jellycell-restoring-0123abcd.lock").exists()
    assert (tmp_path / ".again.restoring-13572468").is_symlink()
    assert (mine / ".jellycell-restoring-13572468.lock").exists()
    assert snapshot(target) == snapshot(project, exclude=(CHECKPOINTS,))
    assert [name for name in os.listdir(target) if "jellycell-restoring" in name] == []


def test_a_restore_read_again_in_one_pass_keeps_its_folder_marked(
    project: Path,
    tmp_path: Path,
    made: archive.CheckpointCreateReport,
    snapshot: Callable[..., dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading in runs gives up after writing something (a helper died, say); the
    # one pass that follows is met by another restore's sweep into the same target.
    target = tmp_path / "contested"

    def unfit(archive_path: Path, destination: Path, *args: object) -> None:
        (destination / "data").mkdir()
        (destination / "data" / "from-a-run.csv").write_text("partial")
        raise Unfit("a helper died")

    class SweptMeanwhile(reader.Extractor):
        def run(self) -> Outcome:
            (staging,) = [p for p in tmp_path.iterdir() if p.name.startswith(".contested.")]
            (mark,) = staging.glob(".jellycell-restoring-*.lock")
            with open(mark, "rb") as handle, pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # still held
            reader._sweep_abandoned_staging(target)
            return super().run()

    monkeypatch.setattr(reader, "PARALLEL_FILES", 1)
    monkeypatch.setattr(reader, "_extract_in_runs", unfit)
    monkeypatch.setattr(reader, "Extractor", SweptMeanwhile)

    archive.restore(project, "saved", into=target)

    assert snapshot(target) == snapshot(project, exclude=(CHECKPOINTS,))
    assert not (target / "data" / "from-a-run.csv").exists()
    assert [name for name in os.listdir(tmp_path) if "restoring" in name] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="a bind mount needs root")
def test_the_sweep_never_reaches_into_a_mount(
    project: Path, tmp_path: Path, made: archive.CheckpointCreateReport
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    write_mark(elsewhere, "0123abcd")
    mounted = tmp_path / ".again.restoring-0123abcd"  # a mount named like a killed restore's
    holding = tmp_path / ".again.restoring-4567abcd"  # a killed restore's, with a mount inside
    mounted.mkdir(0o700)
    (holding / "inner").mkdir(parents=True, mode=0o700)
    write_mark(holding, "4567abcd")
    mounts = [mounted, holding / "inner"]
    for point in mounts:
        if subprocess.run(["mount", "--bind", str(elsewhere), str(point)]).returncode:
            pytest.skip("mount --bind is not allowed here")
    try:
        archive.restore(project, "saved", into=tmp_path / "again")
        assert (elsewhere / "keep.txt").read_text() == "keep"
        assert (holding / ".jellycell-restoring-4567abcd.lock").exists()
    finally:
        for point in reversed(mounts):
            subprocess.run(["umount", str(point)], check=True)
