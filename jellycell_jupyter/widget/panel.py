"""The inline checkpoint panel: a project's checkpoint list as a live ipywidgets view."""

from __future__ import annotations

import html
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ipywidgets import HTML, Button, Checkbox, HBox, Layout, Output, Text, VBox

from .. import archive
from ..archive import (
    CheckpointError,
    CheckpointListEntry,
    CheckpointListReport,
    ProgressCallback,
    Project,
)
from ..text import human_size
from .progress import ProgressView
from .render import (
    EMPTY_HINT,
    NO_PROJECT_HINT,
    files_words,
    local_time,
    render_list_html,
    render_list_text,
    render_no_project_html,
    render_no_project_text,
    time_ago,
)

log = logging.getLogger(__name__)

Start = Project | str | os.PathLike[str] | None
Outcome = tuple[str, bool]
"""A finished operation's one-line result, and whether it is a failure."""
Work = Callable[[ProgressCallback], Outcome]

# Fixed widths that fit a default JupyterLab notebook column (about 800 px);
# narrower outputs wrap the actions below the cells.
WIDTHS = {
    "name": "12.5em",
    "created": "11em",
    "size": "4.5em",
    "files": "3em",
    "status": "6em",
}
ACTIONS_WIDTH = "14em"
ERROR_COLOR = "var(--jp-error-color1, #c62828)"
SUCCESS_COLOR = "var(--jp-success-color1, #2e7d32)"
DIM_COLOR = "var(--jp-ui-font-color2, #757575)"
FORCE_DESCRIPTION = "Force: overwrite the target folder's files that the checkpoint also holds"


def _cell(column: str) -> HTML:
    width = WIDTHS.get(column)
    if width is None:
        return HTML(layout=Layout(flex="1 1 auto", min_width="6em", margin="0 0.5em 0 0"))
    return HTML(layout=Layout(flex=f"0 0 {width}", width=width, margin="0 0.5em 0 0"))


def _action(description: str, tooltip: str) -> Button:
    return Button(
        description=description,
        tooltip=tooltip,
        layout=Layout(width="auto", flex="0 0 auto", padding="0 0.5em"),
    )


class CheckpointRow(VBox):  # type: ignore[misc]
    """One checkpoint's line: its cells, its actions, and any confirmation asked of it."""

    def __init__(self, entry: CheckpointListEntry, now: datetime) -> None:
        super().__init__(layout=Layout(border_bottom="1px solid #e0e0e0", padding="0.25em 0"))
        self.cells = {column: _cell(column) for column in (*WIDTHS, "message")}
        self.restore_button = _action("Restore", "restore this checkpoint into a folder")
        self.verify_button = _action("Verify", "check the archive against its digests")
        self.delete_button = _action("Delete", "delete this checkpoint's archive")
        self.problem_line = HTML()
        self.line = HBox(
            [
                *(self.cells[column] for column in ("name", "created", "size", "files")),
                self.cells["message"],
                self.cells["status"],
                HBox(
                    [self.restore_button, self.verify_button, self.delete_button],
                    layout=Layout(flex=f"0 0 {ACTIONS_WIDTH}", width=ACTIONS_WIDTH),
                ),
            ],
            layout=Layout(align_items="center", flex_flow="row wrap"),
        )
        self._attached: VBox | None = None
        self.show(entry, now)

    @property
    def buttons(self) -> tuple[Button, ...]:
        """The row's action buttons."""
        return (self.restore_button, self.verify_button, self.delete_button)

    def show(self, entry: CheckpointListEntry, now: datetime) -> None:
        """Fill the cells from ``entry``; ``now`` sets the words of "3 minutes ago"."""
        self.entry = entry
        name = html.escape(entry.name)
        self.cells["name"].value = f'<code title="{html.escape(entry.path)}">{name}</code>'
        self.cells["created"].value = (
            f"{html.escape(local_time(entry.created_at))}<br>"
            f'<small style="color: {DIM_COLOR}">{html.escape(time_ago(entry.created_at, now))}'
            "</small>"
        )
        self.cells["size"].value = human_size(entry.size_bytes)
        self.cells["files"].value = files_words(entry)
        self.cells["message"].value = (
            html.escape(entry.message)
            if entry.message
            else f'<i style="color: {DIM_COLOR}">no message</i>'
        )
        if entry.status == "ok":
            self.cells["status"].value = "ok"
            self.problem_line.value = ""
        else:
            self.cells[
                "status"
            ].value = f'<b style="color: {ERROR_COLOR}">⚠ {html.escape(entry.status)}</b>'
            self.problem_line.value = (
                f'<span style="color: {ERROR_COLOR}">{html.escape(entry.name)} is '
                f"{html.escape(entry.status)}: {html.escape(entry.problem or 'no details')}</span>"
            )
        self._arrange()

    def attach(self, box: VBox | None) -> None:
        """Show ``box`` (a confirmation) under this row, or nothing when ``None``."""
        self._attached = box
        self._arrange()

    def _arrange(self) -> None:
        children: list[Any] = [self.line]
        if self.problem_line.value:
            children.append(self.problem_line)
        if self._attached is not None:
            children.append(self._attached)
        self.children = tuple(children)

    def close_all(self) -> None:
        """Close this row's widgets; the row must no longer be displayed."""
        for widget in (*self.cells.values(), *self.buttons, self.problem_line):
            widget.close()
        self.line.children[-1].close()
        self.line.close()
        self.close()


class CheckpointPanel(VBox):  # type: ignore[misc]
    """A project's checkpoints, newest first, with Create, Refresh, Restore, Verify and Delete.

    Parameters
    ----------
    start : Project, path or None
        The project, or any path inside it; ``None`` means the current folder.

    Every action calls the archiver in a background thread so the kernel stays
    responsive; while it runs, every button is disabled and a progress bar
    follows it; :meth:`wait` blocks until it is done. Failures end as one line
    in the panel.
    """

    def __init__(self, start: Start = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("jellycell-checkpoint-panel")
        self.layout.border = "1px solid #e0e0e0"
        self.layout.padding = "0.5em"
        self._start: Project | str | os.PathLike[str] = Path.cwd() if start is None else start
        self.project: Project | None = None
        self.report: CheckpointListReport | None = None
        self.problem: str | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._working = False
        self._pending: tuple[Literal["restore", "delete"], str] | None = None
        self._rows: dict[str, CheckpointRow] = {}

        self.header = HTML()
        self.message_box = Text(
            placeholder="what this checkpoint is for (optional)",
            description="Message",
            layout=Layout(flex="1 1 auto", width="auto"),
        )
        self.create_button = Button(
            description="Create",
            button_style="primary",
            tooltip="archive the project as a new checkpoint",
            layout=Layout(width="auto"),
        )
        self.refresh_button = Button(
            description="Refresh",
            tooltip="read the checkpoint list again",
            layout=Layout(width="auto"),
        )
        self.toolbar = HBox([self.message_box, self.create_button, self.refresh_button])
        self.progress = ProgressView()
        self.progress.layout.display = "none"
        self.result = HTML()
        self.column_titles = _column_titles()
        self.table = VBox()
        self.empty = HTML(f"<p>{EMPTY_HINT}</p>")
        self.output = Output()

        self.prompt = HTML()
        self.target_field = Text(
            description="Target folder",
            style={"description_width": "initial"},
            layout=Layout(width="100%"),
        )
        self.force_box = Checkbox(
            value=False,
            indent=False,
            description=FORCE_DESCRIPTION,
            layout=Layout(width="auto", max_width="100%"),
        )
        self.confirm_button = Button(
            description="Confirm", button_style="warning", layout=Layout(width="auto")
        )
        self.cancel_button = Button(description="Cancel", layout=Layout(width="auto"))
        self.confirm_buttons = HBox([self.confirm_button, self.cancel_button])
        self.confirm_box = VBox(
            layout=Layout(
                border="1px solid #e0e0e0", padding="0.25em 0.5em", margin="0.25em 0 0 2em"
            )
        )

        self.create_button.on_click(lambda _: self._handle(self._create))
        self.refresh_button.on_click(lambda _: self._handle(self.refresh))
        self.confirm_button.on_click(lambda _: self._handle(self._confirm))
        self.cancel_button.on_click(lambda _: self._handle(self._cancel))
        self.target_field.observe(lambda _: self._describe_pending(), names="value")
        self.force_box.observe(lambda _: self._describe_pending(), names="value")
        self.refresh()

    @property
    def busy(self) -> bool:
        """Whether an operation is running."""
        return self._lock.locked()

    @property
    def rows(self) -> list[CheckpointRow]:
        """The rows shown, newest checkpoint first."""
        if self.report is None:
            return []
        return [self._rows[entry.name] for entry in self.report.checkpoints]

    def row(self, name: str) -> CheckpointRow:
        """The row of checkpoint ``name``; ``KeyError`` when it is not listed."""
        return self._rows[name]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running operation, if any, is done; ``False`` on timeout."""
        worker = self._worker
        if worker is None:
            return True
        worker.join(timeout)
        return not worker.is_alive()

    def refresh(self) -> None:
        """Read the checkpoint list again and redraw; refused while an operation runs."""
        with self._idle() as idle:
            if idle:
                self._say(self._reload() or "", failed=True)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # Viewers without a widget manager (nbconvert, GitHub) fall back to these.
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        if self.project is None:
            data["text/html"] = render_no_project_html(self.problem or "")
            data["text/plain"] = render_no_project_text(self.problem or "")
            return data
        report = self.report or CheckpointListReport(
            project=str(self.project.root), project_name=self.project.name
        )
        data["text/html"] = render_list_html(report)
        data["text/plain"] = render_list_text(report)
        return data

    # What the buttons do.

    def _create(self) -> None:
        project = self.project
        if project is None:
            return
        message = self.message_box.value.strip() or None

        def work(progress: ProgressCallback) -> Outcome:
            report = archive.create(project, message=message, progress=progress)
            self.message_box.value = ""
            name = report.name or Path(report.path).name.removesuffix(".tar.gz")
            return (
                f"Created checkpoint {name}: {report.files} files, "
                f"{human_size(report.size_bytes)}.",
                False,
            )

        self._run("Creating checkpoint", work)

    def _ask_restore(self, name: str) -> None:
        with self._idle() as idle:
            if idle and self.project is not None:
                self.target_field.value = str(archive.default_restore_target(self.project, name))
                self.force_box.value = False
                self._ask("restore", name)

    def _ask_delete(self, name: str) -> None:
        with self._idle() as idle:
            if idle:
                self._ask("delete", name)

    def _verify(self, name: str) -> None:
        project = self.project
        if project is None:
            return

        def work(progress: ProgressCallback) -> Outcome:
            report = archive.verify(project, name, progress=progress)
            if report.ok:
                return f"Checkpoint {name} is intact: {report.files} files checked.", False
            more = len(report.problems) - 1
            first = report.problems[0] if report.problems else "it fails its checks"
            tail = f" (and {more} more problem{'' if more == 1 else 's'})" if more > 0 else ""
            return f"Checkpoint {name} failed verification: {first}{tail}.", True

        self._run(f"Verifying {name}", work)

    def _confirm(self) -> None:
        pending, project = self._pending, self.project
        if pending is None or project is None:
            return
        verb, name = pending
        if verb == "delete":

            def work(progress: ProgressCallback) -> Outcome:
                archive.delete(project, name)
                return f"Deleted checkpoint {name}.", False

            self._run(f"Deleting {name}", work)
            return

        target, force = self._target(name), bool(self.force_box.value)

        def restore(progress: ProgressCallback) -> Outcome:
            report = archive.restore(project, name, into=target, force=force, progress=progress)
            how = "merged into" if report.merged else "into"
            return (
                f"Restored checkpoint {name} {how} {report.target} ({report.files} files).",
                False,
            )

        self._run(f"Restoring {name}", restore)

    def _cancel(self) -> None:
        self._ask(None, "")

    # Confirmations.

    def _ask(self, verb: Literal["restore", "delete"] | None, name: str) -> None:
        previous = self._pending
        self._pending = None if verb is None else (verb, name)
        if previous is not None and previous[1] in self._rows:
            self._rows[previous[1]].attach(None)
        if verb is None:
            return
        self._describe_pending()
        if verb == "restore":
            self.confirm_button.description = "Confirm restore"
            self.confirm_button.button_style = "warning"
            self.confirm_box.children = (
                self.prompt,
                self.target_field,
                self.force_box,
                self.confirm_buttons,
            )
        else:
            self.confirm_button.description = "Confirm delete"
            self.confirm_button.button_style = "danger"
            self.confirm_box.children = (self.prompt, self.confirm_buttons)
        self._rows[name].attach(self.confirm_box)

    def _describe_pending(self) -> None:
        if self._pending is None:
            return
        verb, name = self._pending
        shown = html.escape(name)
        if verb == "delete":
            self.prompt.value = (
                f"Delete checkpoint <b>{shown}</b>? Its archive and sidecar are removed for good."
            )
            return
        target = self._target(name)
        warning = (
            " Files in that folder that the checkpoint also holds will be overwritten."
            if self.force_box.value
            else ""
        )
        self.prompt.value = (
            f"Restore <b>{shown}</b> into <code>{html.escape(str(target))}</code>?{warning}"
        )

    def _target(self, name: str) -> Path:
        typed = str(self.target_field.value).strip()
        if not typed and self.project is not None:
            return archive.default_restore_target(self.project, name)
        return Path(typed).expanduser().absolute()

    # Running work.

    def _handle(self, action: Callable[[], None]) -> None:
        # Button callbacks run inside the Output so nothing they print is lost, and
        # failures become one line in the panel instead of a traceback in a log.
        with self.output:
            try:
                action()
            except CheckpointError as error:
                self._say(error.message, failed=True)
            except Exception as error:
                log.exception("checkpoint panel action failed")
                self._say(f"Unexpected error: {_one_line(error)}", failed=True)

    def _run(self, description: str, work: Work) -> None:
        if not self._lock.acquire(blocking=False):
            self._say("Another checkpoint operation is still running; wait for it.", failed=True)
            return
        try:
            self._ask(None, "")
            self._set_busy(True)
            self.progress.start(description)
            self.result.value = ""
            self._worker = threading.Thread(
                target=self._work, args=(description, work), name="checkpoint-panel", daemon=True
            )
            self._worker.start()
        except BaseException:
            self._set_busy(False)
            self._lock.release()
            raise

    def _work(self, description: str, work: Work) -> None:
        try:
            try:
                outcome, failed = work(self.progress.update)
            except CheckpointError as error:
                outcome, failed = f"{description} failed: {error.message}", True
            except Exception as error:
                log.exception("%s failed", description)
                outcome = f"{description} failed unexpectedly: {_one_line(error)}"
                failed = True
            listing_problem = self._reload()
            if listing_problem:
                outcome, failed = f"{outcome} {listing_problem}", True
            self._say(outcome, failed=failed)
        except Exception as error:
            log.exception("checkpoint panel failed after %s", description)
            self._say(f"Unexpected error: {_one_line(error)}", failed=True)
        finally:
            self._set_busy(False)
            self._lock.release()

    def _set_busy(self, busy: bool) -> None:
        self._working = busy
        for widget in (
            self.create_button,
            self.refresh_button,
            self.message_box,
            self.confirm_button,
            self.cancel_button,
            self.target_field,
            self.force_box,
        ):
            widget.disabled = busy
        for row in self._rows.values():
            for button in row.buttons:
                button.disabled = busy
        self.progress.layout.display = None if busy else "none"

    def _say(self, text: str, *, failed: bool = False) -> None:
        if not text:
            self.result.value = ""
            return
        color, mark = (ERROR_COLOR, "⚠ ") if failed else (SUCCESS_COLOR, "")
        self.result.value = f'<span style="color: {color}">{mark}{html.escape(text)}</span>'

    @contextmanager
    def _idle(self) -> Iterator[bool]:
        """Hold the lock for a short step; yield ``False`` (and say why) while work runs."""
        acquired = self._lock.acquire(blocking=False)
        if not acquired:
            self._say("Another checkpoint operation is still running; wait for it.", failed=True)
        try:
            yield acquired
        finally:
            if acquired:
                self._lock.release()

    # Reading and drawing.

    def _reload(self) -> str | None:
        """Read the list again and redraw; a one-line problem when it cannot be read."""
        if self.project is None:
            try:
                self.project = (
                    self._start
                    if isinstance(self._start, Project)
                    else archive.find_project(self._start)
                )
            except CheckpointError as error:
                self.problem = error.message
                self._draw()
                return None
        try:
            self.report = archive.list_checkpoints(self.project)
        except CheckpointError as error:
            self._draw()
            return f"Could not list the checkpoints: {error.message}"
        self.problem = None
        self._draw()
        return None

    def _draw(self) -> None:
        if self.project is None:
            self.header.value = (
                f"<p><b>Not inside a jellycell project.</b> {NO_PROJECT_HINT} "
                "Then click <b>Refresh</b>.</p>"
                f'<p style="color: {DIM_COLOR}">{html.escape(self.problem or "")}</p>'
            )
            self.children = [self.header, self.refresh_button, self.result, self.output]
            return

        self.header.value = self._header_html()
        self._draw_rows()
        listing = self.table if self._rows else self.empty
        self.children = [
            self.header,
            self.toolbar,
            self.progress,
            self.result,
            listing,
            self.output,
        ]

    def _header_html(self) -> str:
        assert self.project is not None
        count = len(self.report.checkpoints) if self.report else 0
        return (
            f"<b>Checkpoints of project {html.escape(self.project.name)}</b> "
            f'<span style="color: {DIM_COLOR}">— {count} checkpoint'
            f"{'' if count == 1 else 's'}</span><br>"
            f'<code style="color: {DIM_COLOR}">{html.escape(str(self.project.root))}</code>'
        )

    def _draw_rows(self) -> None:
        entries = self.report.checkpoints if self.report else []
        now = datetime.now(UTC)
        old = self._rows
        self._rows = {}
        for entry in entries:
            row = old.pop(entry.name, None)
            if row is None:
                row = self._new_row(entry, now)
            else:
                row.show(entry, now)
            self._rows[entry.name] = row

        if self._pending is not None and self._pending[1] not in self._rows:
            self._pending = None
        self.table.children = (self.column_titles, *self._rows.values())
        for row in old.values():
            row.close_all()

    def _new_row(self, entry: CheckpointListEntry, now: datetime) -> CheckpointRow:
        row = CheckpointRow(entry, now)
        name = entry.name
        row.restore_button.on_click(lambda _: self._handle(lambda: self._ask_restore(name)))
        row.verify_button.on_click(lambda _: self._handle(lambda: self._verify(name)))
        row.delete_button.on_click(lambda _: self._handle(lambda: self._ask_delete(name)))
        for button in row.buttons:
            button.disabled = self._working
        return row


def _column_titles() -> HBox:
    titles = []
    for column in ("name", "created", "size", "files", "message", "status"):
        cell = _cell(column)
        cell.value = f"<b>{column}</b>"
        titles.append(cell)
    titles.append(
        HTML("<b>actions</b>", layout=Layout(flex=f"0 0 {ACTIONS_WIDTH}", width=ACTIONS_WIDTH))
    )
    return HBox(titles, layout=Layout(border_bottom="1px solid #bdbdbd", flex_flow="row wrap"))


def _one_line(error: Exception) -> str:
    """``TypeName: first line of the message``, for failures nobody planned for."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
