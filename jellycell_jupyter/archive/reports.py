"""The JSON contract shared with the jellycell command line, plus our additive fields.

Field names, types and order of the contract models match ``jellycell
checkpoint --json`` exactly; everything this package adds comes after them and
has a default, so a reader that knows only the contract still validates it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class SkippedPath(BaseModel):
    """A path under a project root that was left out of an archive, and why."""

    path: str
    reason: str


INDEX_FORMAT = "jellycell-jupyter/1"
ENTRY_COLUMNS = (
    "name",
    "kind",
    "size",
    "mtime_ns",
    "mode",
    "sha256_or_link",
    "member",
    "signature",
)


def to_index_text(text: str) -> str:
    """A name or link target as the index stores it: strict JSON text, whatever its bytes.

    A name whose bytes are not UTF-8 cannot be a JSON string; it is stored as a
    NUL (which no file name holds) followed by its bytes in hex.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "\0" + text.encode("utf-8", "surrogateescape").hex()
    return text


def from_index_text(text: str) -> str:
    """The name or link target that :func:`to_index_text` stored."""
    if text.startswith("\0"):
        return bytes.fromhex(text[1:]).decode("utf-8", "surrogateescape")
    return text


def index_row_out(row: list[Any]) -> list[Any]:
    """An index row as written: its name (and a link's target) as strict JSON text."""
    if row[0].isascii() and (row[1] != "link" or row[5].isascii()):
        return row
    copied = list(row)
    copied[0] = to_index_text(row[0])
    if row[1] == "link":
        copied[5] = to_index_text(row[5])
    return copied


def index_row_in(row: list[Any]) -> list[Any]:
    """An index row as read back: the reverse of :func:`index_row_out`."""
    if not str(row[0]).startswith("\0") and not (row[1] == "link" and str(row[5]).startswith("\0")):
        return row
    copied = list(row)
    copied[0] = from_index_text(str(row[0]))
    if row[1] == "link":
        copied[5] = from_index_text(str(row[5]))
    return copied


class CheckpointIndex(BaseModel):
    """The member index that makes an archive verifiable and cheap to re-checkpoint.

    Compact on purpose, since it holds a row per project file. ``members`` are
    the gzip members of the archive as ``[offset, length, tar_offset,
    tar_length, crc32]``, the CRC being that of the compressed bytes;
    ``groups`` are runs of entries stored together as ``[first_entry,
    entries, first_member, members]``; ``entries`` have the
    columns of :data:`ENTRY_COLUMNS`, where ``sha256_or_link`` is a file's
    digest or a link's target and ``signature`` is empty where the entry must
    never be copied from this archive into the next one.
    """

    format: str = INDEX_FORMAT
    members: list[list[int]] = Field(default_factory=list)
    groups: list[list[int]] = Field(default_factory=list)
    entries: list[list[str | int]] = Field(default_factory=list)


class CheckpointSummary(BaseModel):
    """The sidecar ``<name>.json`` and the archive's own ``checkpoint.json``.

    In the sidecar, ``size_bytes`` is the archive's size and ``archive_sha256``
    its digest. Inside the archive, ``index`` lists every member with its digest.
    """

    schema_version: int = SCHEMA_VERSION
    created_at: str
    project_name: str
    message: str | None = None
    files: int
    size_bytes: int
    archive_sha256: str | None = None
    index_offset: int | None = None
    skipped: list[SkippedPath] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    index: CheckpointIndex | None = None


class CheckpointCreateReport(BaseModel):
    """What ``create`` made."""

    schema_version: int = SCHEMA_VERSION
    project: str
    path: str
    files: int
    size_bytes: int
    message: str | None = None
    name: str = ""
    archive_sha256: str | None = None
    reused_bytes: int = 0
    skipped: list[SkippedPath] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)


CheckpointStatus = Literal["ok", "damaged", "incomplete"]


class CheckpointListEntry(BaseModel):
    """One checkpoint in a listing."""

    name: str
    path: str
    created_at: str
    message: str | None = None
    size_bytes: int
    files: int | None = None
    status: CheckpointStatus = "ok"
    problem: str | None = None


class CheckpointListReport(BaseModel):
    """A project's checkpoints, newest first."""

    schema_version: int = SCHEMA_VERSION
    project: str
    checkpoints: list[CheckpointListEntry] = Field(default_factory=list)
    project_name: str | None = None


class CheckpointRestoreReport(BaseModel):
    """Where ``restore`` put a checkpoint."""

    schema_version: int = SCHEMA_VERSION
    project: str
    source: str
    target: str
    name: str = ""
    files: int = 0
    merged: bool = False


class CheckpointVerifyReport(BaseModel):
    """The outcome of checking an archive end to end without extracting it."""

    schema_version: int = SCHEMA_VERSION
    project: str
    name: str
    path: str
    ok: bool
    files: int = 0
    problems: list[str] = Field(default_factory=list)
    digests_checked: bool = False


class CheckpointDeleteReport(BaseModel):
    """What ``delete`` removed."""

    schema_version: int = SCHEMA_VERSION
    project: str
    name: str
    deleted: list[str] = Field(default_factory=list)


class ErrorReport(BaseModel):
    """What every surface prints or sends instead of a report when something failed."""

    schema_version: int = SCHEMA_VERSION
    error: str
