"""A real IPython shell with the extension loaded, working inside the hand-made project."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config


@pytest.fixture(scope="session")
def shell(tmp_path_factory: pytest.TempPathFactory) -> InteractiveShell:
    """One IPython shell for the session, its profile and history in a folder of the run."""
    os.environ.setdefault("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "jellycell_jupyter")
    return ip


@pytest.fixture
def ip(
    shell: InteractiveShell, project: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    """The shell, its working folder inside the hand-made project; user variables reset after."""
    monkeypatch.chdir(project)
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]
