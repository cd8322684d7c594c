"""The JSON contract shared with the jellycell command line, plus our additive fields.

Field names, types and order of the contract models match ``jellycell
checkpoint --json`` exactly; everything this package adds comes after them and
has a default, so a reader that knows only the contract still validates it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class SkippedPath(BaseModel):
    """A path under a project root that was left out of an archive, and why."""

    path: str
    reason: str


class IndexChunk(BaseModel):
    """One gzip member of an archive: where it lies, and which tar bytes it holds."""

    offset: int
    length: int
    tar_offset: int
    tar_length: int


class IndexEntry(BaseModel):
    """One archived project entry, as recorded in the checkpoint's index.

    ``sha256`` is the digest of a file's bytes as archived; for a link it is
    empty and ``link`` holds the target. ``chunk`` is the position of the gzip
    member that holds the entry's tar header in :attr:`CheckpointIndex.chunks`.
    """

    path: str
    kind: Literal["file", "dir", "link"]
    size: int = 0
    mtime_ns: int = 0
    mode: int = 0o644
    sha256: str = ""
    link: str = ""
    chunk: int = 0


class CheckpointIndex(BaseModel):
    """The member index that makes an archive verifiable and cheap to re-checkpoint."""

    format: str = "jellycell-jupyter/1"
    chunks: list[IndexChunk] = Field(default_factory=list)
    entries: list[IndexEntry] = Field(default_factory=list)


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
