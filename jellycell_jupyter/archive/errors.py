"""The one error type the archiver raises, with a kind each surface maps to its own words."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["invalid", "forbidden", "not_found", "conflict", "damaged", "environment"]


class CheckpointError(Exception):
    """A checkpoint operation failed; ``str(error)`` is one line a person can act on.

    ``kind`` says what sort of failure it is, so a surface can choose its own
    response without parsing the message: ``invalid`` (bad name, path or
    option), ``forbidden`` (a path outside what may be touched), ``not_found``
    (no such project or checkpoint), ``conflict`` (exists already, target not
    empty, another operation running), ``damaged`` (an archive that fails its
    checks) and ``environment`` (disk full, permissions, unreadable files).
    """

    def __init__(self, message: str, kind: ErrorKind = "invalid") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind

    @property
    def message(self) -> str:
        """The one-line explanation."""
        return str(self.args[0])
