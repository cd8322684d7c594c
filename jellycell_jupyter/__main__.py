"""``python -m jellycell_jupyter``: the archiver from a terminal, with the magic's grammar."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import archive
from .commands import CommandError, HelpRequested, parse, run
from .text import describe


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 when it failed, 2 for a usage mistake."""
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
        return _fail("interrupted; nothing was left half-written", as_json, 130)
    if as_json:
        print(report.model_dump_json())
    else:
        print(describe(report))
    failed = isinstance(report, archive.CheckpointVerifyReport) and not report.ok
    return 1 if failed else 0


def _fail(message: str, as_json: bool, code: int) -> int:
    if as_json:
        print(json.dumps(archive.ErrorReport(error=message).model_dump()))
    else:
        print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
