"""The tar format, written and read by hand: ustar headers, PAX records for what ustar cannot hold.

Only the member types a checkpoint may contain are produced; the parser knows
the others well enough to name them when it refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)

REGULAR = b"0"
HARDLINK = b"1"
SYMLINK = b"2"
DIRECTORY = b"5"
PAX_HEADER = b"x"

_TYPE_NAMES = {
    b"0": "regular file",
    b"\0": "regular file",
    b"7": "regular file",
    b"1": "hard link",
    b"2": "symbolic link",
    b"3": "character device",
    b"4": "block device",
    b"5": "directory",
    b"6": "FIFO",
    b"x": "PAX header",
    b"g": "PAX global header",
    b"L": "GNU long name",
    b"K": "GNU long link name",
    b"S": "GNU sparse file",
}
_MAX_OCTAL_SIZE = 8**11 - 1
MAX_TIME = 1 << 40  # seconds either side of 1970: any file's time, and what utime takes


def padding(size: int) -> int:
    """Bytes of zeros that follow ``size`` bytes of member data."""
    return -size % BLOCK


def type_name(typeflag: bytes) -> str:
    """A person's word for a member type."""
    return _TYPE_NAMES.get(typeflag, f"unknown member type {typeflag!r}")


def header(name: str, typeflag: bytes, size: int, mtime: int, mode: int, link: str = "") -> bytes:
    """The header block(s) of one member, owners normalised to root with no names."""
    raw_name = name.encode("utf-8", "surrogateescape")
    raw_link = link.encode("utf-8", "surrogateescape")
    records = {}
    if len(raw_name) > 100 or not raw_name.isascii():
        records["path"] = raw_name
    if len(raw_link) > 100 or not raw_link.isascii():
        records["linkpath"] = raw_link
    if size > _MAX_OCTAL_SIZE:
        records["size"] = str(size).encode()
    mtime = max(0, min(mtime, _MAX_OCTAL_SIZE))
    block = _ustar(
        raw_name[:100], typeflag, 0 if "size" in records else size, mtime, mode, raw_link[:100]
    )
    if not records:
        return block
    payload = b"".join(_pax_record(key, value) for key, value in records.items())
    pax = _ustar(b"././@PaxHeader", PAX_HEADER, len(payload), mtime, 0o644, b"")
    return pax + payload + bytes(padding(len(payload))) + block


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


# The fields after the link name never change: ustar magic and version, empty
# owner names, device numbers 0, no prefix. Owner and group ids are 0 too.
_IDS = b"0000000\0" * 2
_AFTER_LINK = b"ustar\x0000" + bytes(64) + b"0000000\0" * 2 + bytes(155 + 12)
_CONSTANT_SUM = sum(_IDS) + sum(_AFTER_LINK) + 8 * ord(" ")  # the checksum counts as spaces


def _ustar(name: bytes, typeflag: bytes, size: int, mtime: int, mode: int, link: bytes) -> bytes:
    mode_field = b"%07o\0" % (mode & 0o7777)
    size_field = b"%011o\0" % size
    mtime_field = b"%011o\0" % mtime
    checksum = (
        _CONSTANT_SUM
        + sum(name)
        + sum(mode_field)
        + sum(size_field)
        + sum(mtime_field)
        + typeflag[0]
        + sum(link)
    )
    return b"".join(
        (
            name.ljust(100, b"\0"),
            mode_field,
            _IDS,
            size_field,
            mtime_field,
            b"%06o\0 " % checksum,
            typeflag,
            link.ljust(100, b"\0"),
            _AFTER_LINK,
        )
    )


@dataclass
class Member:
    """One parsed member header, with PAX and GNU long names already applied."""

    name: str
    typeflag: bytes
    size: int
    mtime: int
    mode: int
    link: str


class HeaderError(ValueError):
    """A header block that is not a valid tar header."""


def parse_header(block: bytes) -> Member | None:
    """Parse one header block; ``None`` for an all-zero (end) block."""
    if block.count(0) == BLOCK:
        return None
    stored = _number(block[148:156])
    plain = sum(block) - sum(block[148:156]) + 256  # the checksum field counts as spaces
    if stored != plain:
        # Some old writers summed signed bytes; accept their checksums too.
        high = sum(1 for value in block[:148] + block[156:] if value > 127)
        if stored != plain - 256 * high:
            raise HeaderError("header checksum mismatch")
    name = _text(block[0:100])
    if block[345] and block[257:262] == b"ustar":
        prefix = _text(block[345:500])
        if prefix:
            name = f"{prefix}/{name}"
    size, mtime = _number(block[124:136]), _number(block[136:148])
    if size < 0:
        raise HeaderError("a negative size")
    if abs(mtime) > MAX_TIME:
        raise HeaderError("a time out of range")
    return Member(
        name=name,
        typeflag=block[156:157],
        size=size,
        mtime=mtime,
        mode=_number(block[100:108]),
        link=_text(block[157:257]) if block[157] else "",
    )


def parse_pax(payload: bytes) -> dict[str, str]:
    """The ``key=value`` records of a PAX extended header."""
    records = {}
    position = 0
    while position < len(payload):
        space = payload.find(b" ", position)
        if space < 0:
            break
        try:
            length = int(payload[position:space])
        except ValueError:
            raise HeaderError("malformed PAX record") from None
        if length <= 0 or position + length > len(payload):
            raise HeaderError("malformed PAX record")
        record = payload[space + 1 : position + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(field: bytes) -> int:
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value if field[:1] == b"\x80" else value - (1 << (8 * (len(field) - 1)))
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if not digits:
        return 0
    try:
        return int(digits, 8)
    except ValueError:
        raise HeaderError(f"malformed number field {field!r}") from None
