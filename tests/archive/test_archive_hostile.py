"""Hostile and damaged archives: every unsafe member is refused and nothing is written anywhere."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_archives import Member, folder, gz, regular, special, tar_of

from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointError

pytestmark = pytest.mark.usefixtures("reading")


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def tar_gz(members: list[Member], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    return gz(tar_of(*members, form=fmt))


def place(project: Path, name: str, content: bytes, sidecar: bool) -> Path:
    """Put a hand-made archive among the project's checkpoints, with a believable sidecar."""
    folder_path = project / ".jellycell" / "checkpoints"
    folder_path.mkdir(parents=True, exist_ok=True)
    path = folder_path / f"{name}.tar.gz"
    path.write_bytes(content)
    if sidecar:
        summary = {
            "schema_version": 1,
            "created_at": "2030-01-01T00:00:00+00:00",
            "project_name": "demo",
            "message": "looks fine",
            "files": 1,
            "size_bytes": len(content),
            "archive_sha256": hashlib.sha256(content).hexdigest(),
        }
        path.with_name(f"{name}.json").write_text(json.dumps(summary))
    return path


def everything_below(folder: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(top, name), folder)
        for top, folders, files in os.walk(folder)
        for name in folders + files
    )


HOSTILE: dict[str, tuple[list[Member], str]] = {
    "parent-reference": ([regular("data/ok.txt"), regular("../x")], "../x"),
    "deep-parent-reference": ([regular("data/../../x")], "data/../../x"),
    "absolute-path": ([regular("/ABSOLUTE/escape.txt")], "/ABSOLUTE/escape.txt"),
    "link-escapes": ([link("l", "../../etc")], "l"),
    "absolute-link": ([link("l", "/etc")], "l"),
    "link-to-dot-then-climb": ([link("l", "."), regular("l/../x")], "l/../x"),
    "write-through-a-link": (
        [folder("sub"), link("d", "sub"), regular("d/f", b"through")],
        "d/f",
    ),
    "file-over-a-link": ([folder("sub"), link("d", "sub"), regular("d")], "d"),
    "link-over-a-file": ([regular("f"), link("f", "x")], "f"),
    "hard-link-outside": ([regular("a"), link("h", "../outside", tarfile.LNKTYPE)], "h"),
    "hard-link-absolute": ([link("h", "/etc/passwd", tarfile.LNKTYPE)], "h"),
    "hard-link-to-nothing": ([link("h", "never-written", tarfile.LNKTYPE)], "h"),
    "fifo": ([regular("data/ok.txt"), special("data/pipe", tarfile.FIFOTYPE)], "data/pipe"),
    "char-device": ([special("null", tarfile.CHRTYPE)], "null"),
    "block-device": ([special("disk", tarfile.BLKTYPE)], "disk"),
    "long-name-climbs": ([regular("a/" * 60 + "../" * 61 + "x")], "a/" * 60 + "../" * 61 + "x"),
}


@pytest.mark.parametrize("with_sidecar", [False, True], ids=["no-sidecar", "fake-sidecar"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_unsafe_member_is_refused_and_nothing_is_written(
    project: Path, tmp_path: Path, case: str, with_sidecar: bool
) -> None:
    members, culprit = HOSTILE[case]
    members = [
        (info.replace(name=info.name.replace("ABSOLUTE", str(tmp_path)[1:])), data)
        for info, data in members
    ]
    culprit = culprit.replace("ABSOLUTE", str(tmp_path)[1:])
    place(project, "hostile", tar_gz(members), with_sidecar)
    root = tmp_path.parent
    before = everything_below(root)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "hostile")
    with pytest.raises(CheckpointError) as into_caught:
        archive.restore(project, "hostile", into=tmp_path / "chosen" / "deep")
    checked = archive.verify(project, "hostile")

    assert caught.value.kind == "damaged"
    assert repr(culprit) in caught.value.message
    assert "\n" not in caught.value.message
    assert into_caught.value.message == caught.value.message
    assert everything_below(root) == before
    assert not (tmp_path / "demo-restored-hostile").exists()
    assert not (tmp_path / "chosen").exists()
    assert not any("restoring" in name for name in before)
    assert checked.ok is False
    # Verify names the same member, without saying that nothing was restored.
    assert checked.problems == [caught.value.message.removesuffix("; nothing was restored")]


def test_a_hostile_archive_is_refused_even_into_a_forced_merge(
    project: Path, tmp_path: Path
) -> None:
    place(project, "hostile", tar_gz([regular("data/new.txt"), regular("../x")]), sidecar=False)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("keep")

    with pytest.raises(CheckpointError):
        archive.restore(project, "hostile", into=target, force=True)

    assert everything_below(target) == ["keep.txt"]
    assert not (tmp_path / "x").exists()


def test_a_gnu_format_archive_from_elsewhere_restores(project: Path, tmp_path: Path) -> None:
    long_name = "data/" + "n" * 150 + ".txt"
    members = [
        folder("data"),
        regular(long_name, b"long"),
        link("data/inside", "n" * 150 + ".txt"),
        link("data/hard", long_name, tarfile.LNKTYPE),
        regular("checkpoint.json", b'{"created_at": "x", "project_name": "p", "files": 3}'),
    ]
    place(project, "gnu", tar_gz(members, fmt=tarfile.GNU_FORMAT), sidecar=False)

    report = archive.restore(project, "gnu", into=tmp_path / "out")

    out = tmp_path / "out"
    assert report.files == 3
    assert (out / long_name).read_bytes() == b"long"
    assert (out / "data" / "inside").read_bytes() == b"long"
    assert (out / "data" / "hard").stat().st_ino == (out / long_name).stat().st_ino
    assert not (out / "checkpoint.json").exists()


# -- damaged archives -----------------------------------------------------------------


@pytest.fixture
def bulky_checkpoint(bulky_project: Path) -> archive.CheckpointCreateReport:
    return archive.create(bulky_project, name="victim")


def flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def append_garbage(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"trailing garbage")


@pytest.mark.parametrize("keep_sidecar", [True, False], ids=["sidecar", "no-sidecar"])
@pytest.mark.parametrize("damage", [flip_middle, cut_short, append_garbage])
def test_a_damaged_archive_fails_cleanly(
    bulky_project: Path,
    tmp_path: Path,
    bulky_checkpoint: archive.CheckpointCreateReport,
    damage: Callable[[Path], None],
    keep_sidecar: bool,
) -> None:
    path = Path(bulky_checkpoint.path)
    damage(path)
    if not keep_sidecar:
        path.with_name("victim.json").unlink()
    before = everything_below(tmp_path)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(bulky_project, "victim")
    checked = archive.verify(bulky_project, "victim")

    assert caught.value.kind == "damaged"
    assert "victim" in caught.value.message
    assert everything_below(tmp_path) == before
    assert not (tmp_path / "demo-restored-victim").exists()
    assert checked.ok is False
    assert len(checked.problems) == 1
    assert "victim" in checked.problems[0]


def test_verify_passes_a_good_archive(
    bulky_project: Path, bulky_checkpoint: archive.CheckpointCreateReport
) -> None:
    seen: list[archive.Progress] = []

    checked = archive.verify(bulky_project, "victim", progress=seen.append)

    assert checked.ok is True
    assert checked.problems == []
    assert checked.files == bulky_checkpoint.files
    assert checked.digests_checked is True
    assert checked.path == bulky_checkpoint.path
    assert {item.phase for item in seen} == {"verify"}


def test_a_file_swapped_inside_a_well_formed_archive_is_caught_by_its_digest(
    project: Path, tmp_path: Path
) -> None:
    made = archive.create(project, name="original")
    with tarfile.open(made.path) as tar:
        members = []
        for info in tar.getmembers():
            handle = tar.extractfile(info) if info.isfile() else None
            members.append((info, handle.read() if handle is not None else None))
    rebuilt = []
    for info, data in members:
        if info.name == "data/table.csv":
            data = b"forged" + (data or b"")[6:]
        rebuilt.append((info, data))
    Path(made.path).write_bytes(tar_gz(rebuilt, fmt=tarfile.USTAR_FORMAT))
    Path(made.path).with_name("original.json").unlink()

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "original")

    assert caught.value.kind == "damaged"
    assert "data/table.csv" in caught.value.message
    assert not (tmp_path / "demo-restored-original").exists()


def huge_header(kind: bytes, declared: int) -> bytes:
    """A gzip'd tar whose first header declares ``declared`` bytes of metadata it lacks."""
    info = tarfile.TarInfo("././@PaxHeader" if kind == tarfile.XHDTYPE else "././@LongLink")
    info.type = kind
    info.size = declared
    return gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT) + bytes(64 * 1024))


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_a_metadata_header_of_absurd_size_is_refused(
    project: Path, tmp_path: Path, kind: bytes
) -> None:
    place(project, "bomb", huge_header(kind, 256 << 20), sidecar=False)
    before = everything_below(tmp_path)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "bomb")

    assert caught.value.kind == "damaged"
    assert everything_below(tmp_path) == before
    assert archive.verify(project, "bomb").ok is False


def test_a_link_target_holding_a_nul_byte_is_refused(project: Path, tmp_path: Path) -> None:
    info, _ = link("l", "a")
    # In a PAX record the whole target survives; a ustar field would stop at the NUL.
    info.pax_headers = {"linkpath": "a\0/../../x"}
    place(project, "nul", tar_gz([regular("a"), (info, None)]), sidecar=False)
    before = everything_below(tmp_path)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "nul")

    assert caught.value.kind == "damaged"
    assert "'l'" in caught.value.message
    assert everything_below(tmp_path) == before
    assert archive.verify(project, "nul").ok is False


def _with_field(block: bytes, start: int, end: int, value: bytes) -> bytes:
    """A header block with one field replaced and its checksum made right again."""
    changed = bytearray(block)
    changed[start:end] = value
    changed[148:156] = b"        "
    changed[148:156] = b"%06o\0 " % sum(changed)
    return bytes(changed)


@pytest.mark.parametrize(
    "field",
    [
        (124, 136, b"\xff" * 12),  # a size of -1, in base 256
        (124, 136, b"\xff" * 10 + b"\xfe\x00"),  # -512: it would point back at itself
        (136, 148, b"\x80" + b"\x7f" * 11),  # a time no clock can hold
    ],
    ids=["size-minus-one", "size-minus-512", "huge-time"],
)
def test_a_header_with_impossible_numbers_is_damage(
    project: Path, tmp_path: Path, field: tuple[int, int, bytes]
) -> None:
    good = tar_of(regular("a", b"x" * 600), regular("b", b"y" * 600))
    forged = _with_field(good[:512], *field) + good[512:]
    place(project, "forged", gz(forged), sidecar=False)
    before = everything_below(tmp_path)
    outcome: list[object] = []

    # A negative size once made the reader rewind onto its own header, forever.
    worker = threading.Thread(target=lambda: outcome.append(archive.verify(project, "forged")))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "verify did not finish"
    assert outcome and not outcome[0].ok  # type: ignore[attr-defined]
    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "forged")
    assert caught.value.kind == "damaged"
    assert everything_below(tmp_path) == before
    assert [entry.name for entry in archive.list_checkpoints(project).checkpoints] == ["forged"]


def test_a_negative_pax_size_is_damage(project: Path) -> None:
    info, data = regular("a", b"x" * 600)
    info.pax_headers = {"size": "-512"}
    place(project, "negative", tar_gz([(info, data)]), sidecar=False)

    with pytest.raises(CheckpointError) as caught:
        archive.restore(project, "negative")

    assert caught.value.kind == "damaged"


def test_a_folder_named_twice_takes_what_it_says_last(project: Path, tmp_path: Path) -> None:
    first, _ = folder("d")
    first.mode, first.mtime = 0o700, 1_000_000_000
    second, _ = folder("d")
    second.mode, second.mtime = 0o755, 1_200_000_000
    place(project, "twice", tar_gz([(first, None), regular("d/f"), (second, None)]), False)

    target = Path(archive.restore(project, "twice", into=tmp_path / "out").target)

    assert stat.S_IMODE((target / "d").stat().st_mode) == 0o755
    assert int((target / "d").stat().st_mtime) == 1_200_000_000
