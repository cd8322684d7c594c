"""``python -m jellycell_jupyter``: the archiver from a terminal, with the magic's grammar."""

from __future__ import annotations

import sys
from pathlib import Path

INTERRUPTED = "interrupted; nothing was left half-written"
PRINTING_INTERRUPTED = "interrupted while printing the report; the operation itself finished"


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 when it failed, 2 for a usage mistake."""
    from . import archive
    from .commands import CommandError, HelpRequested, parse, run
    from .text import describe

    words = sys.argv[1:] if argv is None else argv
    as_json = "--json" in words
    try:
        arguments = parse(words, "python -m jellycell_jupyter")
        report = run(arguments, Path.cwd())
    except HelpRequested as help_text:
        print(help_text)
        return 0
    except CommandError as error:
        return _fail(str(error), as_json, 2)
    except archive.CheckpointError as error:
        return _fail(error.message, as_json, 1)
    except KeyboardInterrupt:
        return _fail(INTERRUPTED, as_json, 130)
    try:
        print(report.model_dump_json() if as_json else describe(report))
    except KeyboardInterrupt:  # the work was done; only its report was cut short
        return _fail(PRINTING_INTERRUPTED, as_json, 130)
    failed = isinstance(report, archive.CheckpointVerifyReport) and not report.ok
    return 1 if failed else 0


def _fail(message: str, as_json: bool, code: int) -> int:
    if as_json:
        from .archive.reports import ErrorReport

        print(ErrorReport(error=message).model_dump_json())
    else:
        print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # before any work began, while Python was starting
        sys.exit(_fail(INTERRUPTED, "--json" in sys.argv, 130))
