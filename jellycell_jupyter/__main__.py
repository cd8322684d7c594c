"""``python -m jellycell_jupyter``: the archiver from a terminal, with the magic's grammar."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

INTERRUPTED = "interrupted; nothing was left half-written"
TERMINATED = "terminated; nothing was left half-written"
PRINTING_INTERRUPTED = "interrupted while printing the report; the operation itself finished"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs."""


def _terminate(number: int, frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 when it failed, 2 for a usage mistake.

    Ctrl-C exits with 130 and SIGTERM with 143, each after the clean-up an
    error gets: no partial archive, no staging folder is left.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread() and previous is not None:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        if threading.current_thread() is threading.main_thread() and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
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
    except Terminated:
        return _fail(TERMINATED, as_json, 143)
    except KeyboardInterrupt:
        return _fail(INTERRUPTED, as_json, 130)
    try:
        print(report.model_dump_json() if as_json else describe(report))
    except KeyboardInterrupt as interrupt:  # the work was done; only its report was cut short
        return _fail(
            PRINTING_INTERRUPTED, as_json, 143 if isinstance(interrupt, Terminated) else 130
        )
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
