"""Fixtures for the archiver's tests: bigger projects and the folders a checkpoint touches."""

from __future__ import annotations

import random
from pathlib import Path

import pytest


@pytest.fixture
def checkpoints(project: Path) -> Path:
    """The checkpoints folder of the hand-made project (it may not exist yet)."""
    return project / ".jellycell" / "checkpoints"


@pytest.fixture
def bulky_project(project: Path) -> Path:
    """The hand-made project with a few megabytes of incompressible data in many files.

    Random bytes keep compression from hiding what is copied and what is not;
    the seed keeps every run the same.
    """
    rng = random.Random(20240601)
    raw = project / "data" / "raw"
    raw.mkdir()
    for number in range(60):
        (raw / f"part-{number:03d}.bin").write_bytes(rng.randbytes(30_000 + number * 100))
    notes = project / "notebooks" / "notes"
    notes.mkdir()
    for number in range(80):
        (notes / f"note-{number:03d}.txt").write_text(f"note {number}\n" * (number + 1))
    (project / "data" / "large.bin").write_bytes(rng.randbytes(5_000_000))
    return project
