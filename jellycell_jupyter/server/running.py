"""The operation running on each project, one at a time, with its latest progress."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from jellycell_jupyter.archive import CheckpointError, Progress

OperationKind = Literal["create", "restore", "verify", "delete"]
T = TypeVar("T")


@dataclass
class Operation:
    """One archiver call on a project, as a client polling for progress sees it."""

    kind: OperationKind
    project: str
    name: str | None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    started: float = field(default_factory=time.monotonic)
    progress: Progress | None = None

    def update(self, progress: Progress) -> None:
        """The archiver's ``progress`` callback; runs in the working thread."""
        self.progress = progress  # one reference assignment, atomic under the GIL

    @property
    def seconds(self) -> float:
        """Time since the operation started."""
        return time.monotonic() - self.started

    def as_json(self) -> dict[str, Any]:
        """The operation for ``GET /jellycell/api/operations``."""
        progress = self.progress
        return {
            "kind": self.kind,
            "name": self.name,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 3),
            "phase": progress.phase if progress else None,
            "files_done": progress.files_done if progress else 0,
            "files_total": progress.files_total if progress else 0,
            "bytes_done": progress.bytes_done if progress else 0,
            "bytes_total": progress.bytes_total if progress else 0,
            "fraction": round(progress.fraction, 4) if progress else 0.0,
        }


class RunningOperations:
    """At most one operation per project, run in worker threads off the event loop.

    Claims are made and released on the event loop's thread only, so the
    check-and-claim in :meth:`claim` needs no lock.
    """

    def __init__(self, max_workers: int = 4) -> None:
        self._by_project: dict[Path, Operation] = {}
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="jellycell")

    def current(self, project_root: Path) -> Operation | None:
        """The operation running on the project, if any."""
        return self._by_project.get(project_root)

    @contextlib.contextmanager
    def claim(self, project_root: Path, operation: Operation) -> Iterator[Operation]:
        """Hold the project for ``operation``; a second claim meanwhile is a conflict."""
        running = self._by_project.get(project_root)
        if running is not None:
            what = f"checkpoint {running.name!r}" if running.name else "a checkpoint"
            raise CheckpointError(
                f"a {running.kind} of {what} is already running on project "
                f"{running.project or '(the root folder)'!r}; wait for it to finish "
                "(GET /jellycell/api/operations shows its progress) and try again",
                "conflict",
            )
        self._by_project[project_root] = operation
        try:
            yield operation
        finally:
            del self._by_project[project_root]

    async def run(self, work: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking archiver ``work`` in a worker thread and wait for it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(work, *args, **kwargs))
