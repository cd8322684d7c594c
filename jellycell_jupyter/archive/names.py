"""Checkpoint names: made safe on create, matched exactly on every later verb."""

from __future__ import annotations

import re
from datetime import datetime

from .errors import CheckpointError

ARCHIVE_SUFFIX = ".tar.gz"
SIDECAR_SUFFIX = ".json"
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_AUTO_FORMAT = "%Y-%m-%dT%H-%M-%SZ"


def sanitize_name(name: str) -> str:
    """Return ``name`` with every run of unsafe characters turned into one ``-``."""
    cleaned = _UNSAFE_RUN.sub("-", name).strip("-")
    return cleaned or "checkpoint"


def auto_name(now: datetime) -> str:
    """The name of a checkpoint created at ``now`` (UTC) without one given."""
    return now.strftime(_AUTO_FORMAT)


def check_existing_name(name: str) -> str:
    """Refuse a name that could not have been made by :func:`sanitize_name`.

    Later verbs take a name that must match an existing checkpoint exactly, so
    anything with a separator, a parent reference or an unsafe character is an
    error here rather than a path lookup.
    """
    if not name:
        raise CheckpointError("a checkpoint name is required; see the list for names")
    if name.endswith(ARCHIVE_SUFFIX):
        name = name[: -len(ARCHIVE_SUFFIX)]
    if name in {".", ".."} or sanitize_name(name) != name:
        raise CheckpointError(
            f"{name!r} is not a checkpoint name: names use only letters, digits, '.', '_' "
            "and '-'; list the checkpoints to see the names"
        )
    return name
