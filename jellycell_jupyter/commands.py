"""The checkpoint grammar shared by ``%checkpoint`` and ``python -m jellycell_jupyter``.

It takes the same words as ``jellycell checkpoint``; with no verb, it creates::

    [create] [PROJECT] [-m MESSAGE] [--name NAME] [--json]
    list [PROJECT] [--json]
    restore NAME [--project P] [--into DIR] [--force] [--json]
    verify NAME [--project P] [--json]
    delete NAME [--project P] [--json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from pydantic import BaseModel

from . import archive

VERBS = ("create", "list", "restore", "verify", "delete")
USAGE = (
    "[create] [PROJECT] [-m MESSAGE] [--name NAME] | list [PROJECT] | "
    "restore NAME [--project P] [--into DIR] [--force] | verify NAME [--project P] | "
    "delete NAME [--project P]; "
    "add --json for the report as JSON"
)


class CommandError(Exception):
    """A mistake in the words given; the message is one line that shows the usage."""


class HelpRequested(Exception):
    """``-h``/``--help`` was given; the message is the help text."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if self.prog.endswith(VERBS):
            raise CommandError(f"{message}; {' '.join(self.format_usage().split())}")
        raise CommandError(f"{message}; usage: {self.prog} {USAGE}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise HelpRequested(self.format_help())

    def print_help(self, file: object = None) -> None:
        raise HelpRequested(self.format_help())


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The parser for all verbs; ``prog`` is how the user called us."""
    parser = _Parser(prog=prog, description="Reproducible checkpoints of a jellycell project.")
    verbs = parser.add_subparsers(dest="verb", parser_class=_Parser)

    create = verbs.add_parser("create", help="archive the project (the default verb)")
    create.add_argument("project", nargs="?", help="a path inside the project (default: here)")
    create.add_argument("-m", "--message", help="a short note stored with the checkpoint")
    create.add_argument("--name", help="the checkpoint's name (default: the UTC time)")

    listing = verbs.add_parser("list", help="the project's checkpoints, newest first")
    listing.add_argument("project", nargs="?", help="a path inside the project (default: here)")

    for verb, what in (
        ("restore", "extract a checkpoint into a new folder beside the project"),
        ("verify", "check a checkpoint end to end without extracting it"),
        ("delete", "remove a checkpoint's archive and sidecar"),
    ):
        sub = verbs.add_parser(verb, help=what)
        sub.add_argument("name", help="the checkpoint's name, as the list shows it")
        sub.add_argument("--project", help="a path inside the project (default: here)")
        if verb == "restore":
            sub.add_argument("--into", help="the folder to restore into")
            sub.add_argument(
                "--force", action="store_true", help="merge into an existing, non-empty folder"
            )

    for sub in verbs.choices.values():
        sub.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def parse(words: list[str], prog: str) -> argparse.Namespace:
    """Parse ``words``; a first word that is not a verb means ``create``."""
    if not words or (words[0] not in VERBS and words[0] not in ("-h", "--help")):
        words = ["create", *words]
    return build_parser(prog).parse_args(words)


def run(
    arguments: argparse.Namespace,
    here: Path,
    progress: archive.ProgressCallback | None = None,
) -> BaseModel:
    """Carry out parsed words against the archiver; relative paths are taken from ``here``."""
    verb = arguments.verb
    # A shell expands "~" before we see it; the magic's words never pass through one.
    start = here / Path(arguments.project or ".").expanduser()
    if verb in ("create", "list") and arguments.project and not start.exists():
        # Most often a message without quotes, or a verb mistyped into a project.
        raise CommandError(
            f"{arguments.project!r} is neither a verb ({', '.join(VERBS)}) nor a folder; "
            'put a message of several words in quotes: -m "before refactor"'
        )
    project = archive.find_project(start)
    if verb == "create":
        return archive.create(
            project, message=arguments.message, name=arguments.name, progress=progress
        )
    if verb == "list":
        return archive.list_checkpoints(project)
    if verb == "restore":
        into = here / Path(arguments.into).expanduser() if arguments.into else None
        return archive.restore(
            project, arguments.name, into=into, force=arguments.force, progress=progress
        )
    if verb == "verify":
        return archive.verify(project, arguments.name, progress=progress)
    return archive.delete(project, arguments.name)
