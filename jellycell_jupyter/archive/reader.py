"""Restoring and verifying checkpoints (being written now)."""

from __future__ import annotations

from typing import Any


def restore(project: Any, name: str, *, into: Any = None, force: bool = False, progress: Any = None) -> Any:
    raise NotImplementedError


def verify(project: Any, name: str, *, progress: Any = None) -> Any:
    raise NotImplementedError


def read_embedded_summary(archive: Any) -> Any:
    return None
