"""Creating checkpoints (being written now)."""

from __future__ import annotations

from typing import Any


def create(project: Any, *, message: str | None = None, name: str | None = None, progress: Any = None) -> Any:
    raise NotImplementedError
