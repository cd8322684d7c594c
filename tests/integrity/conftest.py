"""Fixtures for the fault-injection tests: projects of a few megabytes, small file systems."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from integrity_projects import MountFactory, fill_project


@pytest.fixture
def sized_project(tmp_path: Path) -> Path:
    """A project of about 8 MB of incompressible data, ``tmp_path/sized``."""
    return fill_project(tmp_path / "sized", seed=7)


@pytest.fixture
def mount_tmpfs() -> Iterator[MountFactory]:
    """Mount small tmpfs file systems on folders; skip when this machine forbids mounting.

    Every mount is undone when the test ends, lazily if something still holds it.
    """
    mounted: list[Path] = []

    def mount(
        folder: Path, size: str = "2m", *, read_only: bool = False, required: bool = True
    ) -> Path | None:
        """Mount at ``folder``; when mounting is forbidden, skip the test or, if not
        ``required``, return ``None`` and leave ``folder`` an ordinary folder."""
        folder.mkdir(parents=True, exist_ok=True)
        options = f"size={size},mode=0755" + (",ro" if read_only else "")
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            if not required:
                return None
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    try:
        yield mount
    finally:
        for folder in reversed(mounted):
            if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
                with contextlib.suppress(OSError):
                    subprocess.run(["umount", "-l", str(folder)], capture_output=True)
