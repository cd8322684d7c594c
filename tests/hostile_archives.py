"""Archives made by hand to attack or confuse a restore: escaping names, odd members, lies."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jellycell_jupyter.archive import CheckpointSummary

Member = tuple[tarfile.TarInfo, bytes | None]


def regular(name: str, data: bytes = b"escaped\n") -> Member:
    """A regular file member."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def folder(name: str) -> Member:
    """A directory member."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def symlink(name: str, target: str) -> Member:
    """A symbolic link member."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, None


def hard_link(name: str, target: str) -> Member:
    """A hard link member."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return info, None


def by_kind(kind: str, name: str, target: str, data: bytes | None = None) -> Member:
    """A member described in words: a "file" (holding ``data``, by default its own
    name), a "dir", a "symlink" to ``target`` or, for anything else, a hard link."""
    if kind == "file":
        return regular(name, name.encode("utf-8", "surrogateescape") if data is None else data)
    if kind == "dir":
        return folder(name)
    if kind == "symlink":
        return symlink(name, target)
    return hard_link(name, target)


def special(name: str, kind: bytes) -> Member:
    """A device, FIFO or other member that is no file at all."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info, None


def with_pax(member: Member, **records: str) -> Member:
    """``member`` with PAX records that override what its ustar header says."""
    member[0].pax_headers = dict(records)
    return member


def tar_of(*members: Member, form: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed tar of ``members``, written as given (tarfile checks no names on writing)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=form) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def gz(raw: bytes) -> bytes:
    """One gzip member holding ``raw``."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    return packer.compress(raw) + packer.flush()


def end_of_archive() -> bytes:
    """The two zero blocks that end a tar."""
    return bytes(1024)


def short_member(header: bytes, present: int) -> bytes:
    """A header whose member data stops after ``present`` bytes, then the file just ends."""
    return header + bytes(present)


def huge_regular(form: int) -> bytes:
    """A file member whose header declares 10 GB, followed by a few kilobytes."""
    info = tarfile.TarInfo("data/huge.bin")
    info.size = 10 * 10**9
    return gz(short_member(info.tobuf(format=form), 4096))


def huge_extended_header() -> bytes:
    """A PAX header declaring 10 GB of records, with only a block of them present."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = 10 * 10**9
    return gz(short_member(info.tobuf(format=tarfile.GNU_FORMAT), 512))


def padded_extended_header(megabytes: int) -> bytes:
    """A PAX header of ``megabytes`` of zeros (a few kilobytes compressed), then a small file."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = megabytes << 20
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(header)]
    zeros = bytes(1 << 20)
    parts += [packer.compress(zeros) for _ in range(megabytes)]
    parts.append(packer.compress(tar_of(regular("data/after.txt", b"after\n"))))
    return b"".join(parts) + packer.flush()


def giant_summary(megabytes: int) -> bytes:
    """A ``checkpoint.json`` member of ``megabytes`` of zeros (a few kilobytes compressed)."""
    info = tarfile.TarInfo("checkpoint.json")
    info.size = megabytes << 20
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(info.tobuf(format=tarfile.USTAR_FORMAT))]
    zeros = bytes(1 << 20)
    parts += [packer.compress(zeros) for _ in range(megabytes)]
    parts.append(packer.compress(end_of_archive()))
    return b"".join(parts) + packer.flush()


def many_empty_files(count: int, last: Member | None, *, distinct: int | None = None) -> bytes:
    """``count`` empty file members ``many/000000``..., then ``last``, gzip-compressed.

    With ``distinct``, the names repeat after that many members, so a later
    member replaces an earlier one of the same name. Headers are stamped from
    one template (only the digits and the checksum change), which keeps
    building two hundred thousand of them quick.
    """
    template = bytearray(tarfile.TarInfo("many/000000").tobuf(format=tarfile.USTAR_FORMAT))
    base = sum(template[:148]) + sum(template[156:]) + 8 * 32 - sum(b"000000")
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = []
    batch = bytearray()
    for number in range(count):
        digits = b"%06d" % (number % distinct if distinct else number)
        template[5:11] = digits
        template[148:156] = b"%06o\0 " % (base + sum(digits))
        batch += template
        if len(batch) >= 1 << 22:
            parts.append(packer.compress(bytes(batch)))
            batch = bytearray()
    tail = tar_of(last) if last is not None else end_of_archive()
    parts.append(packer.compress(bytes(batch) + tail))
    return b"".join(parts) + packer.flush()


@dataclass(frozen=True)
class Hostile:
    """One hand-made archive: how to build it, given the folder that escapes would reach."""

    case: str
    build: Callable[[Path], bytes]


def _plain(
    *members: Callable[[Path], Member], form: int = tarfile.PAX_FORMAT
) -> Callable[[Path], bytes]:
    return lambda outside: gz(tar_of(*(make(outside) for make in members), form=form))


def _fixed(member: Member) -> Callable[[Path], Member]:
    return lambda outside: member


HOSTILE = [
    Hostile("dotdot", _plain(_fixed(regular("../escaped.txt")))),
    Hostile("dotdot-deep", _plain(_fixed(regular("data/../../../escaped.txt")))),
    Hostile("dotdot-dot", _plain(_fixed(regular("./../escaped.txt")))),
    Hostile(
        "dotdot-in-pax-path",
        _plain(_fixed(with_pax(regular("data/harmless.txt"), path="../escaped.txt"))),
    ),
    Hostile(
        "dotdot-in-gnu-long-name",
        _plain(_fixed(regular("../" + "x" * 120 + ".txt")), form=tarfile.GNU_FORMAT),
    ),
    Hostile("absolute", _plain(lambda outside: regular(str(outside / "absolute.txt")))),
    Hostile("absolute-double-slash", _plain(lambda outside: regular(f"/{outside}/double.txt"))),
    Hostile(
        "absolute-in-pax-path",
        _plain(lambda outside: with_pax(regular("ok.txt"), path=str(outside / "pax-abs.txt"))),
    ),
    Hostile(
        "link-absolute-then-write",
        _plain(
            lambda outside: symlink("data/out", str(outside)),
            _fixed(regular("data/out/escaped.txt")),
        ),
    ),
    Hostile(
        "link-up-then-write",
        _plain(_fixed(symlink("up", "..")), _fixed(regular("up/escaped.txt"))),
    ),
    Hostile(
        "link-inside-then-write-through",
        _plain(
            _fixed(folder("data")),
            _fixed(symlink("alias", "data")),
            _fixed(regular("alias/through.txt")),
        ),
    ),
    Hostile(
        "link-deep-up",
        _plain(_fixed(folder("a/b")), _fixed(symlink("a/b/up", "../../../outside"))),
    ),
    Hostile(
        "link-chain-escapes",
        _plain(
            _fixed(folder("x")),
            _fixed(symlink("x/parent", "..")),
            _fixed(symlink("escape", "x/parent/..")),
        ),
    ),
    Hostile(
        "link-chain-escapes-once-completed",
        _plain(
            _fixed(symlink("escape", "x/parent/..")),
            _fixed(folder("x")),
            _fixed(symlink("x/parent", "..")),
        ),
    ),
    Hostile(
        "link-chain-then-write",
        _plain(
            _fixed(folder("x")),
            _fixed(symlink("x/parent", "..")),
            _fixed(symlink("escape", "x/parent/..")),
            _fixed(regular("escape/escaped.txt")),
        ),
    ),
    Hostile(
        "link-with-nul-in-target",
        _plain(_fixed(with_pax(symlink("data/odd", "placeholder"), linkpath="ok\0/../../x"))),
    ),
    Hostile("link-over-folder", _plain(_fixed(folder("data")), _fixed(symlink("data", "x")))),
    Hostile(
        "folder-over-link", _plain(_fixed(symlink("data", "elsewhere")), _fixed(folder("data")))
    ),
    Hostile(
        "file-over-link",
        _plain(_fixed(symlink("data", "elsewhere")), _fixed(regular("data", b"over\n"))),
    ),
    Hostile("hard-link-up", _plain(_fixed(hard_link("data/h", "../escaped.txt")))),
    Hostile(
        "hard-link-absolute",
        _plain(lambda outside: hard_link("data/h", str(outside / "sentinel.txt"))),
    ),
    Hostile(
        "hard-link-to-later-file",
        _plain(_fixed(hard_link("h", "later.txt")), _fixed(regular("later.txt"))),
    ),
    Hostile(
        "hard-link-to-link",
        _plain(_fixed(symlink("l", "elsewhere")), _fixed(hard_link("h", "l"))),
    ),
    Hostile("hard-link-to-folder", _plain(_fixed(folder("data")), _fixed(hard_link("h", "data")))),
    Hostile("character-device", _plain(_fixed(special("data/null", tarfile.CHRTYPE)))),
    Hostile("block-device", _plain(_fixed(special("data/disk", tarfile.BLKTYPE)))),
    Hostile("fifo", _plain(_fixed(special("data/pipe", tarfile.FIFOTYPE)))),
    Hostile("unknown-type", _plain(_fixed(special("data/odd", b"Z")))),
    Hostile("huge-size-gnu", lambda outside: huge_regular(tarfile.GNU_FORMAT)),
    Hostile("huge-size-pax", lambda outside: huge_regular(tarfile.PAX_FORMAT)),
    Hostile("huge-extended-header", lambda outside: huge_extended_header()),
    Hostile("giant-extended-header", lambda outside: padded_extended_header(64)),
    Hostile("giant-summary", lambda outside: giant_summary(64)),
    Hostile("empty-file", lambda outside: b""),
    Hostile("not-gzip", lambda outside: b"PK\x03\x04 this is a zip, not a checkpoint" * 30),
    Hostile("plain-tar", lambda outside: tar_of(regular("data/a.txt", b"a\n"))),
    Hostile("gzip-of-nothing", lambda outside: gzip.compress(b"")),
    Hostile("gzip-of-garbage", lambda outside: gzip.compress(b"\x01" * 5000)),
]


def summary_for(data: bytes, *, files: int = 1) -> CheckpointSummary:
    """A sidecar that agrees with ``data``'s size and sha256, as a careful forger would write."""
    return CheckpointSummary(
        created_at="2024-01-01T00:00:00+00:00",
        project_name="demo",
        files=files,
        size_bytes=len(data),
        archive_sha256=hashlib.sha256(data).hexdigest(),
    )


def place(checkpoints: Path, name: str, data: bytes, sidecar: CheckpointSummary | None) -> None:
    """Put ``data`` in the checkpoints folder as checkpoint ``name``, with or without a sidecar."""
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / f"{name}.tar.gz").write_bytes(data)
    if sidecar is not None:
        (checkpoints / f"{name}.json").write_text(sidecar.model_dump_json())


def rewrite_members(
    archive_bytes: bytes, change: Callable[[list[tuple[tarfile.TarInfo, bytes]]], None]
) -> bytes:
    """Re-pack a real archive after ``change`` edited its members (one gzip member, PAX)."""
    members = []
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:gz") as tar:
        for info in tar.getmembers():
            handle = tar.extractfile(info)
            members.append((info, handle.read() if handle else b""))
    change(members)
    return gz(tar_of(*((info, data if info.isreg() else None) for info, data in members)))


def edit_index(members: list[tuple[tarfile.TarInfo, bytes]], edit: Callable[[dict], None]) -> None:
    """Apply ``edit`` to the parsed ``checkpoint.json`` among ``members``."""
    for number, (info, data) in enumerate(members):
        if info.name == "checkpoint.json":
            summary = json.loads(data)
            edit(summary)
            body = json.dumps(summary).encode()
            info.size = len(body)
            members[number] = (info, body)
            return
    raise AssertionError("the archive has no checkpoint.json")
