"""The checkpoints folder: names to paths, sidecars, listing and deletion."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .durable import fsync_dir, os_error, reservation
from .errors import CheckpointError
from .names import ARCHIVE_SUFFIX, SIDECAR_SUFFIX, check_existing_name
from .project import Project, find_project
from .reports import (
    CheckpointDeleteReport,
    CheckpointListReport,
    CheckpointStatus,
    CheckpointSummary,
)

log = logging.getLogger(__name__)

ProjectLike = Project | str | os.PathLike[str]

_SIDECAR_READ = 16 << 10
_SIDECAR_LIMIT = 64 << 20  # a sidecar lists skipped and changed paths, never more than this
_LISTED_REMEMBERED = 20_000
_LISTED: dict[str, tuple[tuple[int, ...], tuple[tuple[float, int], dict[str, Any]]]] = {}


def as_project(project: ProjectLike) -> Project:
    """Accept a :class:`Project` or any path inside one."""
    return project if isinstance(project, Project) else find_project(project)


def sidecar_for(archive: Path) -> Path:
    """``<name>.json`` beside ``<name>.tar.gz``."""
    return archive.with_name(archive.name[: -len(ARCHIVE_SUFFIX)] + SIDECAR_SUFFIX)


def lock_for(project: Project, name: str) -> Path:
    """The reservation file that claims ``name`` while it is created or deleted."""
    return project.checkpoints_dir / f".{name}.lock"


def archive_path(project: ProjectLike, name: str) -> Path:
    """The archive of the existing checkpoint ``name``; the name must match exactly."""
    project = as_project(project)
    name = check_existing_name(name)
    path = project.checkpoints_dir / f"{name}{ARCHIVE_SUFFIX}"
    if path.is_symlink():
        # The listing never shows one, and following it could read anything.
        raise CheckpointError(
            f"{path} is a link, not a checkpoint; a checkpoint is a file in {path.parent}",
            "forbidden",
        )
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint named {name!r} in project {project.name!r}; "
            "list the checkpoints to see the names",
            "not_found",
        )
    return path


def default_restore_target(project: ProjectLike, name: str) -> Path:
    """``<project folder>-restored-<name>``, beside the project folder."""
    project = as_project(project)
    return project.root.parent / f"{project.root.name}-restored-{check_existing_name(name)}"


def read_sidecar(archive: Path) -> CheckpointSummary | None:
    """The sidecar's summary, or ``None`` when it is missing or unreadable."""
    try:
        return CheckpointSummary.model_validate_json(sidecar_for(archive).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def list_checkpoints(project: ProjectLike) -> CheckpointListReport:
    """Every complete checkpoint of the project, newest first."""
    project = as_project(project)
    entries: list[tuple[tuple[float, int], dict[str, Any]]] = []
    try:
        scan = list(os.scandir(project.checkpoints_dir))
    except FileNotFoundError:
        scan = []
    except OSError as error:
        raise os_error(error, project.checkpoints_dir) from None

    sidecars = {item.name: item for item in scan if item.name.endswith(SIDECAR_SUFFIX)}
    for item in scan:
        if not item.name.endswith(ARCHIVE_SUFFIX) or not item.is_file(follow_symlinks=False):
            continue
        try:
            stat = item.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # deleted while we looked
        sidecar = sidecars.get(item.name[: -len(ARCHIVE_SUFFIX)] + SIDECAR_SUFFIX)
        entries.append(_remembered_entry(item.path, stat, sidecar))

    entries.sort(key=lambda pair: (pair[0], pair[1]["name"]), reverse=True)
    # One validation for the whole list: a thousand checkpoints list in milliseconds.
    return CheckpointListReport.model_validate(
        {
            "project": str(project.root),
            "checkpoints": [entry for _, entry in entries],
            "project_name": project.name,
        }
    )


def _remembered_entry(
    archive: str, stat: os.stat_result, sidecar: os.DirEntry[str] | None
) -> tuple[tuple[float, int], dict[str, Any]]:
    """:func:`_list_entry`, remembered while archive and sidecar stay the same files, unchanged.

    Sidecars are written once, by a rename; a listing asked for again (a
    sidebar refreshing, a panel) then costs two stats per checkpoint.
    """
    key: tuple[int, ...] = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if sidecar is None or sidecar.is_symlink():
        return _list_entry(archive, stat)
    try:
        info = sidecar.stat(follow_symlinks=False)
    except OSError:
        return _list_entry(archive, stat)
    key += (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    known = _LISTED.get(archive)
    if known is not None and known[0] == key:
        return known[1]
    listed = _list_entry(archive, stat)
    if len(_LISTED) >= _LISTED_REMEMBERED:
        _LISTED.clear()
    _LISTED[archive] = (key, listed)
    return listed


def _list_entry(archive: str, stat: os.stat_result) -> tuple[tuple[float, int], dict[str, Any]]:
    name = os.path.basename(archive)[: -len(ARCHIVE_SUFFIX)]
    fields = _sidecar_fields(archive)
    status: CheckpointStatus = "ok"
    problem = None
    if fields is None:
        from .reader import read_embedded_summary  # only for archives without a sidecar

        summary = read_embedded_summary(Path(archive))
        if summary is None:
            status, problem = "incomplete", "no sidecar and no readable checkpoint.json"
        else:
            fields = summary.model_dump(include={"created_at", "message", "files"})
            fields["size_bytes"] = stat.st_size
    elif fields["size_bytes"] != stat.st_size:
        status = "damaged"
        problem = f"archive is {stat.st_size} bytes, its sidecar says {fields['size_bytes']}"

    created_at = fields["created_at"] if fields else ""
    entry = {
        "name": name,
        "path": archive,
        "created_at": created_at or _iso(stat.st_mtime),
        "message": fields["message"] if fields else None,
        "size_bytes": stat.st_size,
        "files": fields["files"] if fields else None,
        "status": status,
        "problem": problem,
    }
    # created_at has whole seconds; the archive's own time orders a second's checkpoints.
    return (_timestamp(created_at, stat.st_mtime), stat.st_mtime_ns), entry


def _sidecar_fields(archive: str) -> dict[str, Any] | None:
    """The sidecar fields a listing shows, if the sidecar is there and well formed."""
    try:
        fd = os.open(archive[: -len(ARCHIVE_SUFFIX)] + SIDECAR_SUFFIX, os.O_RDONLY)
        try:
            # A sidecar is small: asking for more than it holds costs a large
            # allocation per read, which adds up over a thousand checkpoints.
            text = os.read(fd, _SIDECAR_READ)
            while len(text) % _SIDECAR_READ == 0 and len(text) < _SIDECAR_LIMIT:
                more = os.read(fd, _SIDECAR_READ)
                if not more:
                    break
                text += more
            data = json.loads(text)
        finally:
            os.close(fd)
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deep
        return None
    if not isinstance(data, dict):
        return None
    created_at, message = data.get("created_at"), data.get("message")
    files, size = data.get("files"), data.get("size_bytes")
    if not isinstance(created_at, str) or not (message is None or isinstance(message, str)):
        return None
    if type(files) is not int or type(size) is not int:
        return None
    return {"created_at": created_at, "message": message, "files": files, "size_bytes": size}


def _timestamp(created_at: str, fallback: float) -> float:
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return fallback
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).isoformat(timespec="seconds")


def delete(project: ProjectLike, name: str) -> CheckpointDeleteReport:
    """Remove a checkpoint's archive and sidecar."""
    project = as_project(project)
    archive = archive_path(project, name)
    name = archive.name[: -len(ARCHIVE_SUFFIX)]
    deleted = []
    with reservation(lock_for(project, name), f"an operation on checkpoint {name!r}"):
        for path in (archive, sidecar_for(archive)):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:
                raise os_error(error, path) from None
            deleted.append(str(path))
        fsync_dir(archive.parent)
    log.warning("deleted checkpoint %s of %s", name, project.root)
    return CheckpointDeleteReport(project=str(project.root), name=name, deleted=deleted)
