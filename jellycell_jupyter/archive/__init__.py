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

from .errors import CheckpointError, ErrorKind
from .progress import Progress, ProgressCallback
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
