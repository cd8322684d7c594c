"""Projects of a few megabytes and the command line that archives them, for fault injection."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

MountFactory = Callable[..., Path | None]


def fill_project(root: Path, *, seed: int, megabytes: int = 8) -> Path:
    """A project at ``root`` of incompressible data: large files, many small ones, a database."""
    rng = random.Random(seed)
    for folder in ("notebooks", "data/small", "manuscripts", ".jellycell/cache/blobs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "jellycell.toml").write_text('[project]\nname = "sized"\n')
    (root / "notebooks" / "analysis.py").write_text("# %%\nx = 1\n")
    (root / "manuscripts" / "paper.md").write_text("# Results\n")
    (root / "data" / "table.csv").write_text("a,b\n1,2\n" * 100)
    (root / ".jellycell" / "cache" / "blobs" / "ab12").write_bytes(bytes(range(256)) * 4)
    data = root / "data"
    (data / "large-a.bin").write_bytes(rng.randbytes(megabytes * 5 // 8 << 20))
    (data / "large-b.bin").write_bytes(rng.randbytes(megabytes * 3 // 8 << 20))
    small = data / "small"
    for number in range(120):
        (small / f"part-{number:03d}.bin").write_bytes(rng.randbytes(rng.randint(0, 16000)))
    (root / "notebooks" / "link-to-table.csv").symlink_to("../data/table.csv")
    database = sqlite3.connect(root / ".jellycell" / "cache" / "state.db")
    with database:
        database.execute("CREATE TABLE cells (key INTEGER PRIMARY KEY, value BLOB)")
        database.executemany(
            "INSERT INTO cells VALUES (?, ?)", ((n, rng.randbytes(200)) for n in range(2000))
        )
    database.close()
    return root


def command(*words: str) -> list[str]:
    """The argument list that runs ``python -m jellycell_jupyter`` with ``words``."""
    return [sys.executable, "-m", "jellycell_jupyter", *words]


def child_environment() -> dict[str, str]:
    """The environment of a command-line child: ours, with bytecode kept in the temporary folder.

    Dozens of children start one after another; compiling the package afresh in
    each would make start-up, not the work we mean to interrupt, most of a run.
    """
    environment = {
        key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"
    }
    environment["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "integrity-pycache")
    return environment


def run_command(*words: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m jellycell_jupyter`` to the end and return what it printed."""
    return subprocess.run(
        command(*words),
        cwd=cwd,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def remount(folder: Path, options: str) -> None:
    """Change the options of the tmpfs mounted at ``folder``: ``ro``, ``rw``, ``size=64m``."""
    subprocess.run(
        ["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True
    )
