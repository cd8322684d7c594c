"""Timings taken inside one Python process: listing, creating twice, phases of create/restore.

Run as a script by ``run.py`` so that each measurement gets a fresh interpreter;
it prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any


def time_list(project: Path, repeat: int) -> dict[str, Any]:
    """Call ``archive.list_checkpoints`` once to warm up, then ``repeat`` more times."""
    from jellycell_jupyter import archive

    checkpoints = len(archive.list_checkpoints(project).checkpoints)
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        archive.list_checkpoints(project)
        seconds.append(time.perf_counter() - start)
    return {
        "checkpoints": checkpoints,
        "seconds": seconds,
        "best": min(seconds),
        "median": statistics.median(seconds),
    }


class PhaseClock:
    """A progress callback that records when each phase was first and last reported."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.phases: dict[str, list[float]] = {}

    def __call__(self, progress: Any) -> None:
        now = time.perf_counter() - self.start
        span = self.phases.setdefault(str(progress.phase), [now, now])
        span[1] = now

    def report(self, total: float) -> dict[str, Any]:
        """Each phase's span in seconds (from its first to its last report), and the total."""
        return {
            "total": total,
            "phases": {
                phase: {"first": first, "last": last, "span": last - first}
                for phase, (first, last) in self.phases.items()
            },
        }


def time_phases(verb: str, project: Path, name: str, into: Path | None) -> dict[str, Any]:
    """Run ``create`` or ``restore`` in process with a :class:`PhaseClock` as progress."""
    from jellycell_jupyter import archive

    clock = PhaseClock()
    if verb == "create":
        archive.create(project, name=name, progress=clock)
    else:
        archive.restore(project, name, into=into, progress=clock)
    return clock.report(time.perf_counter() - clock.start)


def time_create_twice(project: Path) -> dict[str, Any]:
    """A first create and a second, unchanged one, each timed without interpreter start-up."""
    from jellycell_jupyter import archive

    timings = {}
    for name in ("first", "second"):
        start = time.perf_counter()
        archive.create(project, name=name)
        timings[name] = time.perf_counter() - start
    return timings


def main() -> None:
    """Parse the command line and print the timings as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list")
    listing.add_argument("project", type=Path)
    listing.add_argument("--repeat", type=int, default=20)
    twice = verbs.add_parser("create-twice")
    twice.add_argument("project", type=Path)
    for verb in ("create", "restore"):
        phased = verbs.add_parser(verb)
        phased.add_argument("project", type=Path)
        phased.add_argument("--name", required=True)
        phased.add_argument("--into", type=Path)
    args = parser.parse_args()

    if args.verb == "list":
        result = time_list(args.project, args.repeat)
    elif args.verb == "create-twice":
        result = time_create_twice(args.project)
    else:
        result = time_phases(args.verb, args.project, args.name, args.into)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
