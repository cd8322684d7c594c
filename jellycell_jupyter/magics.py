"""``%checkpoint``: create, list, restore, verify and delete checkpoints from IPython.

Load it with ``%load_ext jellycell_jupyter``. The magic takes the same words
as ``jellycell checkpoint`` and returns the report, so ``r = %checkpoint list``
gives the list in code; in a notebook the list shows as a live panel.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.display import display
from pydantic import BaseModel

from . import archive
from .commands import CommandError, HelpRequested, parse, run
from .text import describe, list_table

_REPORTS = (
    archive.CheckpointCreateReport,
    archive.CheckpointRestoreReport,
    archive.CheckpointVerifyReport,
    archive.CheckpointDeleteReport,
)


@magics_class
class CheckpointMagics(Magics):  # type: ignore[misc]
    """The ``%checkpoint`` line magic."""

    @no_var_expand  # type: ignore[misc]
    @line_magic  # type: ignore[misc]
    def checkpoint(self, line: str) -> BaseModel | None:
        """Checkpoint the jellycell project around this notebook.

        Usage::

          %checkpoint [create] [PROJECT] [-m MESSAGE] [--name NAME]
          %checkpoint list [PROJECT]
          %checkpoint restore NAME [--project P] [--into DIR] [--force]
          %checkpoint verify NAME [--project P]
          %checkpoint delete NAME [--project P]

        Add ``--json`` to any of them to print the report as JSON.

        The project is the one holding the kernel's working folder, or the
        folder named by PROJECT / ``--project``. Without a verb the magic
        creates a checkpoint::

          %checkpoint -m "before refactor"

        The message is stored exactly as typed: quotes delimit it, and neither
        ``{x}`` nor ``$x`` is expanded. Without ``--name`` a checkpoint is named
        by its UTC creation time. Nothing is ever overwritten.

        ``restore`` extracts into a new folder beside the project,
        ``<project>-restored-<NAME>``, unless ``--into`` names another; a
        non-empty folder is refused unless ``--force`` merges into it. The
        live project is never touched, and a damaged archive leaves nothing
        behind. ``verify`` reads an archive end to end and checks every file's
        sha256 without extracting anything.

        The magic returns the report::

          r = %checkpoint list
          r.checkpoints[0].name
        """
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"%checkpoint: {error}; close the quotes and try again") from None
        try:
            arguments = parse(words, "%checkpoint")
        except HelpRequested as help_text:
            print(help_text)
            return None
        except CommandError as error:
            raise UsageError(str(error)) from None

        view, progress = _progress_view(arguments.verb, arguments.json)
        try:
            report = run(arguments, Path.cwd(), progress)
        except (archive.CheckpointError, CommandError, KeyboardInterrupt) as error:
            message = str(error)
            if isinstance(error, KeyboardInterrupt):
                message = "interrupted; nothing was left half-written"
            if view is not None:
                view.finish(message, failed=True)
                view.handle.update(view)
            if arguments.json:
                print(archive.ErrorReport(error=message).model_dump_json())
                return None
            raise UsageError(message) from None
        if view is not None:
            view.finish(describe(report).splitlines()[0])
            view.handle.update(view)  # the saved output's text shows the outcome
        if arguments.json:
            print(report.model_dump_json(indent=2))
        elif view is None and not isinstance(report, archive.CheckpointListReport):
            print(describe(report))
        return report


def register(ipython: InteractiveShell) -> None:
    """Add the magic and the way its reports show in IPython and notebooks."""
    ipython.register_magics(CheckpointMagics)
    display_formatter = ipython.display_formatter
    if display_formatter is None:
        return
    formatters = display_formatter.formatters
    formatters["text/plain"].for_type(archive.CheckpointListReport, _pretty_list)
    formatters["text/html"].for_type(archive.CheckpointListReport, _list_html)
    display_formatter.mimebundle_formatter.for_type(archive.CheckpointListReport, _list_bundle)
    for report_type in _REPORTS:
        formatters["text/plain"].for_type(report_type, _pretty_report)


def _in_kernel() -> bool:
    """Whether a frontend that may draw widgets is attached (not terminal IPython)."""
    shell = InteractiveShell.instance() if InteractiveShell.initialized() else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _progress_view(verb: str, as_json: bool) -> tuple[Any, archive.ProgressCallback | None]:
    if as_json or verb not in ("create", "restore", "verify") or not _in_kernel():
        return None, None
    from .widget import progress_bar

    view, callback = progress_bar(f"{verb.capitalize()} checkpoint")
    view.handle = display(view, display_id=True)  # type: ignore[no-untyped-call]
    return view, callback


def _list_bundle(
    report: archive.CheckpointListReport, include: Any = None, exclude: Any = None
) -> Any:
    if not _in_kernel():
        return None
    from .widget import CheckpointPanel

    return CheckpointPanel(report.project)._repr_mimebundle_(include=include, exclude=exclude)


def _list_html(report: archive.CheckpointListReport) -> str:
    from .widget import render_list_html

    return render_list_html(report)


def _pretty_list(report: archive.CheckpointListReport, printer: Any, cycle: bool) -> None:
    printer.text(list_table(report))


def _pretty_report(report: BaseModel, printer: Any, cycle: bool) -> None:
    printer.text(f"<{type(report).__name__}: {describe(report).splitlines()[0]}>")
