"""``python -m jellycell_jupyter``: the archiver from a terminal, with the magic's grammar."""

from __future__ import annotations

import contextlib
import os
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
    # Once is enough: a second SIGTERM must not cut the clean-up short.
    signal.signal(signal.SIGTERM, _terminated_already)
    raise Terminated


def _terminated_already(number: int, frame: object) -> None:
    """SIGTERM after the first: the clean-up it asked for is under way."""


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 when it failed, 2 for a usage mistake.

    Ctrl-C exits with 130 and SIGTERM with 143, each after the clean-up an
    error gets: no partial archive, no staging folder is left.
    """
    in_charge = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_charge else None
    if previous is not None:
        signal.signal(signal.SIGTERM, _terminate)
    words = sys.argv[1:] if argv is None else argv
    try:
        code = _main(words)
    except KeyboardInterrupt as interrupt:  # while the package was still being imported
        code = _interrupted(interrupt, "--json" in words)
    finally:
        if previous is not None and signal.getsignal(signal.SIGTERM) is _terminate:
            signal.signal(signal.SIGTERM, previous)
    if previous is not None and signal.getsignal(signal.SIGTERM) is _terminated_already:
        # Python's shutdown would give SIGTERM its default action back, and one
        # more arriving then would end the process without this exit code.
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    return code


def _main(words: list[str]) -> int:
    from . import archive
    from .commands import CommandError, HelpRequested, parse, run
    from .text import describe

    as_json = "--json" in words
    try:
        arguments = parse(words, "python -m jellycell_jupyter")
        report = run(arguments, Path.cwd())
    except HelpRequested as help_text:
        return _print(str(help_text), 0)
    except CommandError as error:
        return _fail(str(error), as_json, 2)
    except archive.CheckpointError as error:
        return _fail(error.message, as_json, 1)
    except KeyboardInterrupt as interrupt:
        return _interrupted(interrupt, as_json)
    failed = isinstance(report, archive.CheckpointVerifyReport) and not report.ok
    try:
        return _print(report.model_dump_json() if as_json else describe(report), int(failed))
    except KeyboardInterrupt as interrupt:  # the work was done; only its report was cut short
        code = 143 if isinstance(interrupt, Terminated) else 130
        return _fail(PRINTING_INTERRUPTED, as_json, code)


def _print(text: str, code: int) -> int:
    """Print ``text``; a reader that went away (``| head``) is no failure of the command."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Nothing more can be written there, not even at exit's flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def _interrupted(interrupt: KeyboardInterrupt, as_json: bool) -> int:
    if isinstance(interrupt, Terminated):
        return _fail(TERMINATED, as_json, 143)
    return _fail(INTERRUPTED, as_json, 130)


def _fail(message: str, as_json: bool, code: int) -> int:
    try:
        if as_json:
            from .archive.reports import ErrorReport

            return _print(ErrorReport(error=message).model_dump_json(), code)
        print(f"error: {message}", file=sys.stderr)
    except BrokenPipeError:
        pass
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # before any work began, while Python was starting
        sys.exit(_fail(INTERRUPTED, "--json" in sys.argv, 130))
