"""A progress bar with a line of words, fed by the archiver's progress callback."""

from __future__ import annotations

import html
from typing import Any

from ipywidgets import HTML, HBox, IntProgress, Layout

from ..archive import Progress, ProgressCallback
from ..text import human_size

STEPS = 1000

PHASE_WORDS = {
    "scan": "scanning",
    "archive": "archiving",
    "restore": "restoring",
    "verify": "verifying",
}


def describe_progress(progress: Progress) -> str:
    """``archiving: 12 of 40 files, 1.2 MB of 3.4 MB``."""
    words = PHASE_WORDS.get(progress.phase, progress.phase)
    text = f"{words}: {progress.files_done} of {progress.files_total} files"
    if progress.bytes_total:
        text += f", {human_size(progress.bytes_done)} of {human_size(progress.bytes_total)}"
    return text


class ProgressView(HBox):  # type: ignore[misc]
    """A bar and a label that follow a running checkpoint operation.

    Pass :meth:`update` as the archiver's ``progress`` callback; it may be
    called from any thread. Call :meth:`finish` with a one-line result at the end.
    """

    def __init__(self, description: str = "Working") -> None:
        self.bar = IntProgress(
            value=0,
            min=0,
            max=STEPS,
            description=description,
            bar_style="info",
            style={"description_width": "initial"},
            layout=Layout(flex="0 0 auto"),
        )
        self.label = HTML(value="starting", layout=Layout(flex="1 1 auto"))
        super().__init__(
            children=(self.bar, self.label),
            layout=Layout(align_items="center", grid_gap="0.5em"),
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # A saved notebook shows the outcome line, not the widget's repr.
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = f"{self.bar.description}: {html.unescape(self.label.value)}"
        return data

    def start(self, description: str) -> None:
        """Reset the bar for a new operation called ``description``."""
        self.bar.description = description
        self.bar.bar_style = "info"
        self.bar.value = 0
        self.label.value = "starting"

    def update(self, progress: Progress) -> None:
        """Show ``progress``: the bar by fraction done, the label in files and bytes."""
        self.bar.value = round(progress.fraction * STEPS)
        self.label.value = html.escape(describe_progress(progress))

    def finish(self, text: str, *, failed: bool = False) -> None:
        """Show the one-line outcome; the bar turns full and green, or red on failure."""
        if not failed:
            self.bar.value = STEPS
        self.bar.bar_style = "danger" if failed else "success"
        self.label.value = html.escape(text)


def progress_bar(description: str = "Creating checkpoint") -> tuple[ProgressView, ProgressCallback]:
    """A new :class:`ProgressView` to display, and the callback that feeds it."""
    view = ProgressView(description)
    return view, view.update
