"""The archiver: create, list, restore, verify and delete checkpoints of jellycell projects.

Every surface of the package (the ``%checkpoint`` magic, the ipywidgets panel,
the server extension and the command line) calls these functions and nothing
else; this package imports none of them, nor IPython or jupyter_server.

Each function takes a :class:`Project` or any path inside one, returns a report
model of the JSON contract, and raises :class:`CheckpointError` with a one-line
message when it cannot do what was asked. Long operations accept a
``progress`` callback, called from the working thread with a :class:`Progress`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, ErrorKind
from .progress import Progress, ProgressCallback

if TYPE_CHECKING:
    from .project import Project, find_project, find_projects_below, load_project
    from .reader import restore, verify
    from .reports import (
        CheckpointCreateReport,
        CheckpointDeleteReport,
        CheckpointListEntry,
        CheckpointListReport,
        CheckpointRestoreReport,
        CheckpointSummary,
        CheckpointVerifyReport,
        ErrorReport,
        SkippedPath,
    )
    from .store import archive_path, default_restore_target, delete, list_checkpoints
    from .writer import create

# The rest is imported when first used: a process that reads one run of an
# archive for a restore needs none of it, and starts sooner without it.
_HOMES = {
    "Project": "project",
    "find_project": "project",
    "find_projects_below": "project",
    "load_project": "project",
    "restore": "reader",
    "verify": "reader",
    "archive_path": "store",
    "default_restore_target": "store",
    "delete": "store",
    "list_checkpoints": "store",
    "create": "writer",
    **dict.fromkeys(
        [
            "CheckpointCreateReport",
            "CheckpointDeleteReport",
            "CheckpointListEntry",
            "CheckpointListReport",
            "CheckpointRestoreReport",
            "CheckpointSummary",
            "CheckpointVerifyReport",
            "ErrorReport",
            "SkippedPath",
        ],
        "reports",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CheckpointCreateReport",
    "CheckpointDeleteReport",
    "CheckpointError",
    "CheckpointListEntry",
    "CheckpointListReport",
    "CheckpointRestoreReport",
    "CheckpointSummary",
    "CheckpointVerifyReport",
    "ErrorKind",
    "ErrorReport",
    "Progress",
    "ProgressCallback",
    "Project",
    "SkippedPath",
    "archive_path",
    "create",
    "default_restore_target",
    "delete",
    "find_project",
    "find_projects_below",
    "list_checkpoints",
    "load_project",
    "restore",
    "verify",
]
