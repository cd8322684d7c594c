"""The ipywidgets view of a project's checkpoints, and its fallbacks for viewers without widgets."""

from __future__ import annotations

from ..text import human_size
from .panel import CheckpointPanel, CheckpointRow
from .progress import ProgressView, progress_bar
from .render import render_list_html, render_list_text, time_ago

__all__ = [
    "CheckpointPanel",
    "CheckpointRow",
    "ProgressView",
    "human_size",
    "progress_bar",
    "render_list_html",
    "render_list_text",
    "time_ago",
]
