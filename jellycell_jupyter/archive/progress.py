"""Progress of a running operation, for progress bars in every surface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Phase = Literal["scan", "archive", "restore", "verify"]


@dataclass(frozen=True)
class Progress:
    """How far an operation has come: files and bytes done of the total."""

    phase: Phase
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int

    @property
    def fraction(self) -> float:
        """Done so far, from 0.0 to 1.0, by bytes when there are any, else by files."""
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.files_total:
            return min(1.0, self.files_done / self.files_total)
        return 0.0


ProgressCallback = Callable[[Progress], None]
