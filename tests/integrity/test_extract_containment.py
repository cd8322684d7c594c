"""Property: whatever names and links an archive holds, a restore writes only inside its target.

Member names and link targets are built from segments such as ``..``, ``.``,
empty, ``\\``, letters and unicode, joined by ``/`` (so doubled and leading
slashes occur). Each archive is restored; either it is refused, leaving no
trace, or every path in the target resolves inside it, no file shares an
inode with anything outside, and nothing outside changed. Verify must agree
with restore on every archive. A second property draws archives of links
only, from a tiny alphabet, so that links leading through other links (the
way a chain escapes) come up within a few hundred examples.
"""

from __future__ import annotations

import itertools
import os
import shutil
import stat
from pathlib import Path

import pytest
from hostile_archives import by_kind, gz, tar_of
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from integrity_trees import describe_difference, tree_state

from jellycell_jupyter import archive

pytestmark = pytest.mark.usefixtures("reading")

# Few, short names collide often, which is what makes links lead through one another;
# one member in eight is drawn from every odd segment instead.
PLAIN_SEGMENTS = ["a", "b", "é"]
ODD_SEGMENTS = ["..", ".", "", "a", "\\", "..\\..", "\u202e", "日本", "a b", "~"]
TARGET_SEGMENTS = ["..", "..", ".", ".", "a", "b", "é"]
KINDS = ["file", "dir", "symlink", "symlink", "symlink", "hardlink"]


def _path(segments: list[str], depth: int, absolute: int) -> st.SearchStrategy[str]:
    """Paths of up to ``depth`` segments, one in ``absolute`` starting with ``/``."""
    return st.builds(
        lambda rooted, parts: ("/" if rooted else "") + "/".join(parts),
        st.sampled_from([False] * (absolute - 1) + [True]) if absolute else st.just(False),
        st.lists(st.sampled_from(segments), min_size=1, max_size=depth),
    )


plain_name = _path(PLAIN_SEGMENTS, 3, 0)
odd_name = _path(ODD_SEGMENTS, 4, 5)
any_target = (
    _path(TARGET_SEGMENTS, 2, 20) | _path(TARGET_SEGMENTS, 4, 20) | _path(ODD_SEGMENTS, 4, 5)
)
TAILS = ["", "/..", "/..", "/../..", "/a", "/../a", "/./.."]


@st.composite
def archives(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """Up to six members; links often lead to, or through, an earlier member's name."""
    members: list[tuple[str, str, str]] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(KINDS))
        name = draw(st.sampled_from([plain_name] * 7 + [odd_name]).flatmap(lambda chosen: chosen))
        if members and kind in ("symlink", "hardlink") and draw(st.sampled_from([1, 1, 1, 0])):
            earlier = draw(st.sampled_from([earlier_name for _, earlier_name, _ in members]))
            climb = "../" * name.count("/") if kind == "symlink" else ""
            target = climb + earlier + draw(st.sampled_from(TAILS))
        else:
            target = draw(any_target)
        members.append((kind, name, target))
    return members


link_chains = st.lists(
    st.tuples(
        st.just("symlink"),
        st.sampled_from(["a", "b", "c", "d/a", "d/b"]),
        st.lists(st.sampled_from(["..", ".", "a", "b", "c", "d"]), min_size=1, max_size=3).map(
            "/".join
        ),
    ),
    min_size=2,
    max_size=4,
    unique_by=lambda member: member[1],
)

_numbers = itertools.count()


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> tuple[archive.Project, Path]:
    """A project and a folder of restore targets, shared by every example of a test."""
    base = tmp_path_factory.mktemp("containment")
    root = base / "deep" / "er" / "project"
    (root / "data").mkdir(parents=True)
    (root / "jellycell.toml").write_text('[project]\nname = "containment"\n')
    (root / "data" / "kept.txt").write_text("kept\n")
    (base / "sentinel.txt").write_text("outside\n")
    (base / "deep" / "er" / "restores").mkdir()
    return archive.load_project(root), base


def _tar(members: list[tuple[str, str, str]]) -> bytes:
    return gz(tar_of(*(by_kind(kind, name, target) for kind, name, target in members)))


def _inodes(folder: Path, *, leave_out: Path | None = None) -> set[tuple[int, int]]:
    found = set()
    for current, folders, files in os.walk(folder):
        if leave_out is not None and Path(current) == leave_out.parent:
            folders[:] = [name for name in folders if Path(current, name) != leave_out]
        for name in files:
            info = os.lstat(os.path.join(current, name))
            if stat.S_ISREG(info.st_mode):
                found.add((info.st_dev, info.st_ino))
    return found


def _assert_contained(target: Path) -> None:
    root = os.path.realpath(target)
    for current, folders, files in os.walk(target):
        for name in folders + files:
            path = os.path.join(current, name)
            info = os.lstat(path)
            kind = stat.S_IFMT(info.st_mode)
            assert kind in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK), f"{path} is {oct(kind)}"
            landing = os.path.realpath(path)
            assert landing == root or landing.startswith(root + os.sep), (
                f"{os.path.relpath(path, target)} resolves to {landing}, outside the target"
            )


EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@EXAMPLES
@given(members=archives())
def test_restore_writes_only_inside_its_target(
    playground: tuple[archive.Project, Path], members: list[tuple[str, str, str]]
) -> None:
    _restore_and_check(playground, members)


@EXAMPLES
@given(members=link_chains)
def test_links_through_links_stay_inside_the_target(
    playground: tuple[archive.Project, Path], members: list[tuple[str, str, str]]
) -> None:
    _restore_and_check(playground, members)


def _restore_and_check(
    playground: tuple[archive.Project, Path], members: list[tuple[str, str, str]]
) -> None:
    """Restore an archive of ``members``: refused without a trace, or contained entirely."""
    project, base = playground
    restores = base / "deep" / "er" / "restores"
    name = f"case-{next(_numbers)}"
    archive_file = project.checkpoints_dir / f"{name}.tar.gz"
    project.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    archive_file.write_bytes(_tar(members))
    outside = (project.checkpoints_dir, restores)
    before = tree_state(base, leave_out=tuple(str(p.relative_to(base)) for p in outside))
    outside_inodes = _inodes(base, leave_out=restores)
    target = restores / name

    try:
        try:
            archive.restore(project, name, into=target)
        except archive.CheckpointError as error:
            event(f"refused: {error.message.partition('(')[2].partition(')')[0][:30]}")
            assert error.kind == "damaged", error
            assert "\n" not in error.message
            assert not target.exists()
            assert os.listdir(restores) == [], "a refused restore left something behind"
            assert not archive.verify(project, name).ok
        else:
            event(f"restored with {sum(kind == 'symlink' for kind, _, _ in members)} links")
            _assert_contained(target)
            assert not (_inodes(target) & outside_inodes), "a restored file is linked outside"
            assert archive.verify(project, name).ok
        after = tree_state(base, leave_out=tuple(str(p.relative_to(base)) for p in outside))
        assert after == before, describe_difference(before, after)
    finally:
        shutil.rmtree(target, ignore_errors=True)
        archive_file.unlink()
