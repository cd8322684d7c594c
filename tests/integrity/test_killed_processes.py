"""Kill -9 a creating or restoring process at random moments: nothing half-made is ever shown.

Each trial starts ``python -m jellycell_jupyter`` on a project of a few
megabytes and kills it, by the PID we started, after a seeded random delay:
half the trials count the delay from the start of the process, half from the
moment its work visibly began (its lock file or staging folder appeared), so
many kills land in the middle of writing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest
from integrity_projects import child_environment, command, fill_project, run_command
from integrity_trees import TreeState, comparable_state, describe_difference

from jellycell_jupyter import archive
from jellycell_jupyter.archive import reader, writer

TRIALS = 30


def _edit(project: Path, rng: random.Random) -> None:
    """Change a few files, so each checkpoint differs from the one before."""
    with open(project / "data" / "large-a.bin", "r+b") as handle:
        handle.seek(rng.randrange(os.path.getsize(project / "data" / "large-a.bin")))
        handle.write(rng.randbytes(65536))
    for _ in range(3):
        part = project / "data" / "small" / f"part-{rng.randrange(120):03d}.bin"
        part.write_bytes(rng.randbytes(rng.randint(0, 16000)))
    with open(project / "data" / "table.csv", "a") as table:
        table.write(f"{rng.random()},{rng.random()}\n")


def _run_and_kill(
    words: list[str],
    delay: float,
    started: Callable[[], bool],
    *,
    from_start: bool,
    how: signal.Signals = signal.SIGKILL,
    said: list[str] | None = None,
    times: int = 1,
) -> int:
    """Start the command, signal it ``delay`` seconds in; return its exit status (-9 if killed).

    The signal is sent ``times`` times, 5 ms apart. What the command printed
    on stderr is appended to ``said``, if given.
    """
    with tempfile.TemporaryFile() as errors:
        status = _signalled(words, delay, started, from_start, how, errors, times)
        errors.seek(0)
        if said is not None:
            said.append(errors.read().decode())
    return status


def _signalled(
    words: list[str],
    delay: float,
    started: Callable[[], bool],
    from_start: bool,
    how: signal.Signals,
    errors: IO[bytes],
    times: int,
) -> int:
    process = subprocess.Popen(
        command(*words), env=child_environment(), stdout=subprocess.DEVNULL, stderr=errors
    )
    try:
        if not from_start:
            while process.poll() is None and not started():
                time.sleep(0.001)
        time.sleep(delay)
    finally:
        for _ in range(times):
            process.send_signal(how)  # only this PID; a finished child is a zombie until waited
            time.sleep(0.005)
        status = process.wait()
    return status


def _timed(words: list[str], started: Callable[[], bool]) -> tuple[float, float]:
    """Seconds a whole uninterrupted run takes, and seconds until its work began."""
    subprocess.run(command("--help"), env=child_environment(), capture_output=True, check=True)
    begin = time.perf_counter()
    process = subprocess.Popen(command(*words), env=child_environment())
    seen = 0.0
    while process.poll() is None:
        if not seen and started():
            seen = time.perf_counter() - begin
        time.sleep(0.001)
    assert process.returncode == 0
    total = time.perf_counter() - begin
    return total, seen or total / 2


def _assert_only_complete_checkpoints(project: Path) -> set[str]:
    """The listing shows only complete checkpoints, and every visible file belongs to one."""
    listed = archive.list_checkpoints(project).checkpoints
    for entry in listed:
        assert entry.status == "ok", entry
    names = {entry.name for entry in listed}
    folder = project / ".jellycell" / "checkpoints"
    for item in os.listdir(folder):
        if item.startswith("."):
            continue  # a killed process may leave hidden scratch files behind
        stem = (
            item.removesuffix(".tar.gz") if item.endswith(".tar.gz") else item.removesuffix(".json")
        )
        assert stem in names, f"{item} is visible but belongs to no listed checkpoint"
    return names


@pytest.mark.slow
def test_killed_create_shows_only_complete_checkpoints(tmp_path: Path) -> None:
    project = fill_project(tmp_path / "killed-create", seed=11, megabytes=4)
    folder = project / ".jellycell" / "checkpoints"
    rng = random.Random(1234)
    expected: dict[str, TreeState] = {"baseline": comparable_state(project)}

    def lock_of(name: str) -> Callable[[], bool]:
        return lambda: (folder / f".{name}.lock").exists()

    typical, work_began = _timed(
        ["create", str(project), "--name", "baseline"], lock_of("baseline")
    )
    print(f"create takes {typical:.2f}s, its work begins at {work_began:.2f}s")
    killed_mid_write = 0
    for trial in range(TRIALS):
        _edit(project, rng)
        state = comparable_state(project)
        name = f"killed-{trial:02d}"
        from_start = trial % 2 == 0
        delay = rng.uniform(0, typical if from_start else typical - work_began)
        status = _run_and_kill(
            ["create", str(project), "--name", name], delay, lock_of(name), from_start=from_start
        )
        assert status in (0, -9), f"trial {trial} exited with {status}"
        killed_mid_write += (folder / f".{name}.tar.gz.partial").exists()

        names = _assert_only_complete_checkpoints(project)
        if name in names:
            report = archive.verify(project, name)
            assert report.ok, report.problems
            expected[name] = state

    print(f"{killed_mid_write} of {TRIALS} creates were killed while writing their archive")
    restores = tmp_path / "restores"
    for name, state in expected.items():
        if name not in _assert_only_complete_checkpoints(project):
            continue
        archive.restore(project, name, into=restores / name)
        found = comparable_state(restores / name)
        assert found == state, f"{name}: {describe_difference(state, found)}"
        shutil.rmtree(restores / name)

    # The next create still works, under a fresh name and under a name a kill left unused.
    unused = next(
        (f"killed-{t:02d}" for t in range(TRIALS) if f"killed-{t:02d}" not in expected), "after"
    )
    for name in (unused, "after-the-kills"):
        result = run_command("create", str(project), "--name", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert archive.verify(project, name).ok
    _assert_only_complete_checkpoints(project)
    # What the killed creates left behind went with the next create.
    assert [item for item in os.listdir(folder) if item.startswith(".")] == []


@pytest.mark.slow
def test_killed_restore_leaves_target_absent_or_complete(tmp_path: Path) -> None:
    project = fill_project(tmp_path / "killed-restore", seed=12, megabytes=4)
    archive.create(project, name="source")
    expected = comparable_state(project)
    restores = tmp_path / "restores"
    restores.mkdir()
    rng = random.Random(4321)

    def staging_of(target: str) -> Callable[[], bool]:
        return lambda: any(
            item.startswith(f".{target}.restoring-") for item in os.listdir(restores)
        )

    typical, work_began = _timed(
        ["restore", "source", "--project", str(project), "--into", str(restores / "baseline")],
        staging_of("baseline"),
    )
    outcomes = {"complete": 0, "absent": 0}
    for trial in range(TRIALS):
        target = f"target-{trial:02d}"
        from_start = trial % 2 == 0
        delay = rng.uniform(0, typical if from_start else typical - work_began)
        words = ["restore", "source", "--project", str(project), "--into", str(restores / target)]
        status = _run_and_kill(words, delay, staging_of(target), from_start=from_start)
        assert status in (0, -9), f"trial {trial} exited with {status}"

        if (restores / target).exists():
            found = comparable_state(restores / target, leave_out=())
            assert found == expected, f"{target}: {describe_difference(expected, found)}"
            outcomes["complete"] += 1
        else:
            outcomes["absent"] += 1
        for item in os.listdir(restores):
            assert item.startswith(".") or item == "baseline" or item.startswith("target-"), item

    print(f"killed restores: {outcomes}")
    assert comparable_state(project) == expected, "a restore touched the live project"
    assert archive.verify(project, "source").ok

    # A target a kill left absent (or a fresh one) restores completely afterwards,
    # and what the killed restores into it left beside it goes.
    absent = [t for t in range(TRIALS) if not (restores / f"target-{t:02d}").exists()]
    swept = 0
    for number in absent[:3] or [TRIALS]:
        target = restores / f"target-{number:02d}"
        swept += staging_of(target.name)()
        result = run_command(
            "restore", "source", "--project", str(project), "--into", str(target), cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert comparable_state(target, leave_out=()) == expected
        assert not staging_of(target.name)(), os.listdir(restores)
    print(f"{swept} staging folders of killed restores went with the next restore")


def test_ctrl_c_while_a_checkpoint_appears_leaves_all_or_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt between the archive's link and its sidecar waits for the sidecar."""
    real_write = writer.write_file_atomically
    moments: list[str] = []

    def interrupted_meanwhile(path: Path, data: bytes) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the checkpoint appears
        moments.append("sidecar being written")
        real_write(path, data)
        moments.append("sidecar written")

    monkeypatch.setattr(writer, "write_file_atomically", interrupted_meanwhile)
    with pytest.raises(KeyboardInterrupt):
        archive.create(project, name="cut")

    assert moments == ["sidecar being written", "sidecar written"]
    folder = project / ".jellycell" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == []
    assert archive.list_checkpoints(project).checkpoints == []


@pytest.mark.slow
def test_terminated_create_and_restore_leave_nothing_behind(tmp_path: Path) -> None:
    """SIGTERM, as a service manager or ``kill`` sends it: a clean exit (143), nothing left."""
    project = fill_project(tmp_path / "terminated", seed=13, megabytes=4)
    folder = project / ".jellycell" / "checkpoints"
    archive.create(project, name="source")
    expected = comparable_state(project)
    restores = tmp_path / "restores"
    restores.mkdir()
    rng = random.Random(2468)

    def lock_of(name: str) -> Callable[[], bool]:
        return lambda: (folder / f".{name}.lock").exists()

    def staging_of(target: str) -> Callable[[], bool]:
        return lambda: any(
            item.startswith(f".{target}.restoring-") for item in os.listdir(restores)
        )

    def restore_into(target: str) -> list[str]:
        return ["restore", "source", "--project", str(project), "--into", str(restores / target)]

    create_takes, create_begins = _timed(["create", str(project), "--name", "t"], lock_of("t"))
    restore_takes, restore_begins = _timed(restore_into("t"), staging_of("t"))

    def finished(status: int, said: str) -> bool:
        """Whether the command's work is done, from how it ended and what it said."""
        # -15: the signal came as Python was exiting, after the work and the handler.
        assert status in (0, 143, -15), said
        if "error: terminated; nothing was left half-written" in said:
            assert status == 143, said
            return False
        assert status != 143 or "the operation itself finished" in said, said
        return True

    def terminate(words: list[str], takes: float, started: Callable[[], bool], trial: int) -> bool:
        """SIGTERM the command (a second and third time in some trials); whether it finished."""
        said: list[str] = []
        status = _run_and_kill(
            words,
            rng.uniform(0, takes),
            started,
            from_start=False,
            how=signal.SIGTERM,
            said=said,
            times=1 + trial % 3,  # a second and third SIGTERM must not cut the clean-up short
        )
        outcomes.append(status)
        return finished(status, said[0])

    outcomes: list[int] = []
    for trial in range(10):
        name = f"term-{trial:02d}"
        created = terminate(
            ["create", str(project), "--name", name],
            create_takes - create_begins,
            lock_of(name),
            trial,
        )
        assert [item for item in os.listdir(folder) if item.startswith(".")] == []
        assert (name in _assert_only_complete_checkpoints(project)) == created

        restored = terminate(
            restore_into(name), restore_takes - restore_begins, staging_of(name), trial
        )
        assert [item for item in os.listdir(restores) if item.startswith(".")] == []
        if restored:
            assert comparable_state(restores / name, leave_out=()) == expected
        else:
            assert not (restores / name).exists()

    terminated = outcomes.count(143)
    print(f"{terminated} of 20 commands were terminated while working")
    assert terminated >= 5


def test_a_second_ctrl_c_does_not_cut_a_restores_clean_up_short(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.create(project, name="saved")
    real_rmtree = shutil.rmtree
    removed: list[str] = []

    def first_ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    def second_ctrl_c_meanwhile(path: Any, *args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the staging folder goes
        real_rmtree(path, *args, **kwargs)
        removed.append(str(path))

    monkeypatch.setattr(reader, "_extract", first_ctrl_c)
    monkeypatch.setattr(reader.shutil, "rmtree", second_ctrl_c_meanwhile)
    with pytest.raises(KeyboardInterrupt):
        archive.restore(project, "saved", into=tmp_path / "restores" / "back")

    assert removed
    assert not (tmp_path / "restores").exists()
