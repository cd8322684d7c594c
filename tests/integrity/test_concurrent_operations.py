"""Operations at the same time, in threads and in processes: one winner, and nothing corrupted.

Processes are started first and held at a gate (a file that appears) until
all of them have imported the package, so their work truly overlaps.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integrity_projects import child_environment, fill_project
from integrity_trees import TreeState, comparable_state, describe_difference

from jellycell_jupyter import archive

ROUNDS = 4

GATED = """
import os, sys, time
from jellycell_jupyter.__main__ import main
ready, gate = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(gate):
    time.sleep(0.001)
sys.exit(main(sys.argv[3:]))
"""


def run_together(commands: list[list[str]], folder: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run ``python -m jellycell_jupyter`` commands so that their work starts at one moment."""
    gate = folder / f"gate-{time.monotonic_ns()}"
    processes = []
    for number, words in enumerate(commands):
        ready = folder / f"{gate.name}-ready-{number}"
        process = subprocess.Popen(
            [sys.executable, "-c", GATED, str(ready), str(gate), *words],
            env=child_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append((process, ready))
    deadline = time.monotonic() + 120
    while not all(ready.exists() for _, ready in processes):
        assert time.monotonic() < deadline, "a child never got ready"
        time.sleep(0.005)
    gate.touch()
    results = []
    for process, ready in processes:
        stdout, stderr = process.communicate(timeout=300)
        results.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
        ready.unlink()
    gate.unlink()
    return results


def run_in_threads(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run ``jobs`` in threads released by one barrier; each result is a value or the exception."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def work(number: int) -> None:
        barrier.wait()
        try:
            results[number] = jobs[number]()
        except Exception as error:  # handed to the test to judge
            results[number] = error

    threads = [threading.Thread(target=work, args=(number,)) for number in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def assert_every_checkpoint_sound(project: Path) -> list[str]:
    """Every listed checkpoint is complete and verifies; return their names."""
    names = []
    for entry in archive.list_checkpoints(project).checkpoints:
        assert entry.status == "ok", entry
        report = archive.verify(project, entry.name)
        assert report.ok, (entry.name, report.problems)
        names.append(entry.name)
    return names


@pytest.fixture
def busy_project(tmp_path: Path) -> Path:
    """A project of a few megabytes, so each operation takes a while."""
    return fill_project(tmp_path / "busy", seed=31, megabytes=4)


# -- the same name at once --------------------------------------------------------------


def test_two_processes_create_the_same_name(busy_project: Path, tmp_path: Path) -> None:
    expected = comparable_state(busy_project)
    for round_number in range(ROUNDS):
        name = f"same-{round_number}"
        words = ["create", str(busy_project), "--name", name, "--json"]
        results = run_together([words, words], tmp_path)

        winners = [result for result in results if result.returncode == 0]
        losers = [result for result in results if result.returncode != 0]
        assert len(winners) == 1, [result.stderr for result in results]
        loser = losers[0]
        assert loser.returncode == 1
        error = json.loads(loser.stdout)["error"]
        assert name in error and ("in progress" in error or "already exists" in error), error
        assert json.loads(winners[0].stdout)["name"] == name

    assert sorted(assert_every_checkpoint_sound(busy_project)) == [
        f"same-{n}" for n in range(ROUNDS)
    ]
    archive.restore(busy_project, "same-0", into=tmp_path / "restored")
    found = comparable_state(tmp_path / "restored", leave_out=())
    assert found == expected, describe_difference(expected, found)


def test_two_threads_create_the_same_name(busy_project: Path) -> None:
    for round_number in range(ROUNDS):
        name = f"same-{round_number}"
        results = run_in_threads(
            [lambda name=name: archive.create(busy_project, name=name) for _ in range(2)]
        )

        reports = [
            result for result in results if isinstance(result, archive.CheckpointCreateReport)
        ]
        errors = [result for result in results if isinstance(result, BaseException)]
        assert len(reports) == 1 and len(errors) == 1, results
        assert isinstance(errors[0], archive.CheckpointError), repr(errors[0])
        assert errors[0].kind == "conflict"
        assert reports[0].name == name
    assert len(assert_every_checkpoint_sound(busy_project)) == ROUNDS


def test_unnamed_creates_at_once_all_succeed_under_distinct_names(busy_project: Path) -> None:
    """Names come from the clock; creates in the same second take the next free name."""
    results = run_in_threads([lambda: archive.create(busy_project) for _ in range(3)])
    for result in results:
        assert isinstance(result, archive.CheckpointCreateReport), repr(result)
    names = {result.name for result in results}
    assert len(names) == 3
    assert sorted(assert_every_checkpoint_sound(busy_project)) == sorted(names)


# -- two restores into one folder -------------------------------------------------------


def _restore_twice_in_threads(project: Path, target: Path) -> None:
    results = run_in_threads(
        [lambda: archive.restore(project, "source", into=target) for _ in range(2)]
    )
    outcomes = [
        "won" if isinstance(result, archive.CheckpointRestoreReport) else result
        for result in results
    ]
    assert outcomes.count("won") == 1, outcomes
    error = next(result for result in outcomes if result != "won")
    assert isinstance(error, archive.CheckpointError), repr(error)
    assert error.kind == "conflict", error


def _restore_twice_in_processes(project: Path, target: Path, folder: Path) -> None:
    words = ["restore", "source", "--project", str(project), "--into", str(target)]
    results = run_together([words, words], folder)
    codes = sorted(result.returncode for result in results)
    assert codes == [0, 1], [result.stderr for result in results]
    loser = next(result for result in results if result.returncode)
    assert "filled by something else" in loser.stderr or "not empty" in loser.stderr, loser.stderr


@pytest.mark.parametrize("parents", ["existing", "new"])
@pytest.mark.parametrize("runner", ["threads", "processes"])
def test_two_restores_into_one_folder(
    busy_project: Path, tmp_path: Path, parents: str, runner: str
) -> None:
    """One restore wins and fills the folder; the other is told of a conflict, nothing else.

    With ``new`` parents, neither restore finds the target's folders, so both
    make them at the same moment.
    """
    archive.create(busy_project, name="source")
    expected = comparable_state(busy_project)
    for round_number in range(10 if runner == "threads" else 2):
        base = tmp_path / f"round-{round_number}"
        if parents == "existing":
            base.mkdir()
            target = base / "target"
        else:
            target = base / "new" / "er" / "target"
        if runner == "threads":
            _restore_twice_in_threads(busy_project, target)
        else:
            _restore_twice_in_processes(busy_project, target, tmp_path)

        found = comparable_state(target, leave_out=())
        assert found == expected, describe_difference(expected, found)
        assert sorted(os.listdir(target.parent)) == ["target"], "a staging folder was left"


# -- different operations at once --------------------------------------------------------


def _edit(project: Path, rng: random.Random) -> None:
    (project / "data" / "small" / f"part-{rng.randrange(120):03d}.bin").write_bytes(
        rng.randbytes(rng.randint(1, 9000))
    )
    with open(project / "data" / "large-b.bin", "r+b") as handle:
        handle.seek(rng.randrange(1 << 20))
        handle.write(rng.randbytes(4096))


def _old_checkpoints(project: Path, rng: random.Random, count: int) -> dict[str, TreeState]:
    """``old-0`` ... checkpoints of ``project``, edited before each; what each holds."""
    states: dict[str, TreeState] = {}
    for number in range(count):
        _edit(project, rng)
        archive.create(project, name=f"old-{number}")
        states[f"old-{number}"] = comparable_state(project)
    return states


def test_create_delete_and_restore_at_once_in_threads(busy_project: Path, tmp_path: Path) -> None:
    rng = random.Random(8)
    states = _old_checkpoints(busy_project, rng, 6)

    def creator() -> list[str]:
        made = []
        for number in range(3):
            _edit(busy_project, rng)
            state = comparable_state(busy_project)
            report = archive.create(busy_project, name=f"new-{number}")
            states[report.name] = state
            made.append(report.name)
        return made

    def deleter() -> list[str]:
        # Newest first: the newest checkpoint is the one a create copies from.
        return [archive.delete(busy_project, f"old-{n}").name for n in (5, 4, 3)]

    def restorer() -> list[str]:
        for number in range(3):
            archive.restore(busy_project, f"old-{number}", into=tmp_path / "restored" / str(number))
        return ["restored"]

    results = run_in_threads([creator, deleter, restorer])
    for result in results:
        assert not isinstance(result, BaseException), repr(result)

    names = sorted(assert_every_checkpoint_sound(busy_project))
    assert names == ["new-0", "new-1", "new-2", "old-0", "old-1", "old-2"]
    for number in range(3):
        found = comparable_state(tmp_path / "restored" / str(number), leave_out=())
        assert found == states[f"old-{number}"], describe_difference(states[f"old-{number}"], found)
    for name in ("new-0", "new-1", "new-2"):
        archive.restore(busy_project, name, into=tmp_path / "check" / name)
        found = comparable_state(tmp_path / "check" / name, leave_out=())
        assert found == states[name], describe_difference(states[name], found)


def test_create_delete_and_restore_at_once_in_processes(busy_project: Path, tmp_path: Path) -> None:
    rng = random.Random(9)
    states = _old_checkpoints(busy_project, rng, 3)
    _edit(busy_project, rng)
    states["new"] = comparable_state(busy_project)

    project = str(busy_project)
    results = run_together(
        [
            ["create", project, "--name", "new"],
            ["delete", "old-2", "--project", project],
            ["restore", "old-0", "--project", project, "--into", str(tmp_path / "r0")],
            ["restore", "old-1", "--project", project, "--into", str(tmp_path / "r1")],
        ],
        tmp_path,
    )
    for result in results:
        assert result.returncode == 0, result.stderr

    assert sorted(assert_every_checkpoint_sound(busy_project)) == ["new", "old-0", "old-1"]
    for name, target in (("old-0", "r0"), ("old-1", "r1")):
        found = comparable_state(tmp_path / target, leave_out=())
        assert found == states[name], describe_difference(states[name], found)
    archive.restore(busy_project, "new", into=tmp_path / "check")
    found = comparable_state(tmp_path / "check", leave_out=())
    assert found == states["new"], describe_difference(states["new"], found)


def test_deleting_the_checkpoint_a_create_copies_from(busy_project: Path, tmp_path: Path) -> None:
    """The newest checkpoint disappears while a create is copying unchanged members from it."""
    archive.create(busy_project, name="previous")
    (busy_project / "data" / "table.csv").write_text("changed\n")
    expected = comparable_state(busy_project)
    deleted: list[str] = []

    def delete_previous(progress: archive.Progress) -> None:
        if not deleted:
            deleted.append(archive.delete(busy_project, "previous").name)

    report = archive.create(busy_project, name="next", progress=delete_previous)
    assert deleted == ["previous"]
    assert archive.verify(busy_project, "next").ok
    assert report.files == archive.verify(busy_project, "next").files
    archive.restore(busy_project, "next", into=tmp_path / "restored")
    found = comparable_state(tmp_path / "restored", leave_out=())
    assert found == expected, describe_difference(expected, found)
