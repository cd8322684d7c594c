"""Properties that hold for every input: safe names, and members that never land outside."""

from __future__ import annotations

import errno
import io
import os
import re
import tempfile
from pathlib import Path

from hostile_archives import by_kind, gz, tar_of
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jellycell_jupyter.archive import CheckpointError
from jellycell_jupyter.archive.extract import Extractor, GzipStream
from jellycell_jupyter.archive.names import check_existing_name, sanitize_name

SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


@given(st.text())
def test_a_sanitised_name_is_safe_and_stable(name: str) -> None:
    cleaned = sanitize_name(name)

    assert SAFE.match(cleaned)
    assert not cleaned.startswith("-")
    assert not cleaned.endswith("-")
    assert sanitize_name(cleaned) == cleaned
    assert "/" not in cleaned


@given(st.text(alphabet=st.sampled_from("ab./-_ \\\0é"), max_size=12))
def test_a_name_accepted_by_later_verbs_stays_in_its_folder(name: str) -> None:
    try:
        accepted = check_existing_name(name)
    except CheckpointError as error:
        assert error.kind == "invalid"
        return

    assert SAFE.match(accepted)
    assert accepted not in {".", ".."}
    assert os.path.dirname(accepted) == ""


PART = st.sampled_from(["..", "..", ".", "", "a", "b", "a", "b", "..a", "...", "/"])


@st.composite
def member_names(draw: st.DrawFn) -> str:
    parts = draw(st.lists(PART, min_size=1, max_size=5))
    return "/".join(parts)


@st.composite
def hostile_members(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """Up to five members, each a file, a folder or a link.

    Names and targets come mostly from a small set, so that links leading
    through other links (``c -> a/b/..`` with ``a/b -> ..``) come up often, and
    sometimes from arbitrary-looking paths.
    """
    kinds = st.sampled_from(["file", "dir", "symlink", "symlink", "symlink", "hardlink"])
    names = st.one_of(st.sampled_from(["a", "b", "c", "a/b", "a/c", "b/a"]), member_names())
    targets = st.one_of(
        st.sampled_from([".", "..", "../..", "a", "b/..", "a/b/..", "a/b/../..", "a/a/a/.."]),
        member_names(),
    )
    return draw(st.lists(st.tuples(kinds, names, targets), min_size=1, max_size=5))


def build(members: list[tuple[str, str, str]]) -> bytes:
    return gz(tar_of(*(by_kind(kind, name, target, b"x") for kind, name, target in members)))


def landing_of(link: Path) -> Path | None:
    """Where a link leads, followed through every link on the way; ``None`` for a loop."""
    try:
        return link.resolve(strict=True)
    except RuntimeError:
        return None  # a loop reaches nothing
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None
    return Path(os.path.realpath(link))  # dangling: as far as it resolves


def everything_below(folder: Path) -> set[str]:
    found = set()
    for top, folders, files in os.walk(folder):
        for name in folders + files:
            found.add(os.path.relpath(os.path.join(top, name), folder))
    return found


@settings(max_examples=400, deadline=None)
@given(hostile_members())
@example([("symlink", "a/b", ".."), ("symlink", "c", "a/b/..")])
@example([("symlink", "a/b", ".."), ("symlink", "c", "a/b/../..")])
@example([("symlink", "a", "."), ("symlink", "b", "a/a/a/..")])
@example([("symlink", "a", "b/.."), ("dir", "b", ""), ("symlink", "b/c", "../..")])
@example([("symlink", "a/b", "../c"), ("symlink", "c", "..")])
def test_every_member_is_refused_or_lands_inside_the_target(
    members: list[tuple[str, str, str]],
) -> None:
    content = build(members)
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        target = base / "deep" / "er" / "target"
        target.mkdir(parents=True)
        (base / "deep" / "sentinel").write_text("outside")

        try:
            stream = GzipStream(io.BytesIO(content), "generated.tar.gz")
            Extractor(target, stream, None, len(content), 0).run()
            stream.finish()
        except CheckpointError as error:
            assert error.kind == "damaged"
        else:
            inside = target.resolve()
            for name in everything_below(target):
                path = target / name
                if path.is_symlink():
                    landing = landing_of(path)
                    assert landing is None or landing.is_relative_to(inside), (name, members)

        outside = everything_below(base) - {f"deep/er/target/{n}" for n in everything_below(target)}
        assert outside == {"deep", "deep/er", "deep/er/target", "deep/sentinel"}
        assert (base / "deep" / "sentinel").read_text() == "outside"
