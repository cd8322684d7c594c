"""Reproducible checkpoints of jellycell projects, for IPython, Jupyter servers and JupyterLab."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .widget import CheckpointPanel

__all__ = ["__version__", "load_ipython_extension", "panel"]

# A library logs; the application decides where the lines go.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register ``%checkpoint``; called by ``%load_ext jellycell_jupyter``."""
    from .magics import register

    register(ipython)


def panel(start: Any = None) -> CheckpointPanel:
    """The inline checkpoint panel for the project holding ``start`` (default: the cwd)."""
    from .widget import CheckpointPanel

    return CheckpointPanel(start)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jellycell_jupyter.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jellycell-jupyter"}]
