"""Wall time and peak memory of commands run as subprocesses, and the machine they ran on."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class CommandFailed(Exception):
    """A measured command exited non-zero; ``str()`` is its last line of output."""


@dataclass
class Sample:
    """One run of a command: seconds of wall time and the peak resident memory in bytes."""

    seconds: float
    peak_rss: int
    stdout: str = ""


@dataclass
class Measurement:
    """The runs of one command; ``best`` is the fastest, ``peak_rss`` the largest seen."""

    label: str
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every run succeeded and at least one ran."""
        return self.error is None and bool(self.samples)

    @property
    def best(self) -> float | None:
        """The fastest run, in seconds."""
        return min(s.seconds for s in self.samples) if self.ok else None

    @property
    def peak_rss(self) -> int | None:
        """The largest peak resident set of any run, in bytes."""
        return max(s.peak_rss for s in self.samples) if self.ok else None

    def as_dict(self) -> dict[str, object]:
        """The measurement for the JSON results."""
        return {
            "label": self.label,
            "ok": self.ok,
            "error": self.error,
            "best_seconds": self.best,
            "seconds": [s.seconds for s in self.samples],
            "peak_rss_bytes": self.peak_rss,
        }


GNU_TIME = "/usr/bin/time"


def memory_method() -> str:
    """How peak memory is measured on this machine, for the report."""
    if _has_gnu_time():
        return f"max RSS reported by {GNU_TIME} (GNU time, %M)"
    return (
        "max RSS from wait4; GNU time is not installed, so a child's figure includes the "
        "harness's own resident set at fork as a floor"
    )


def _has_gnu_time() -> bool:
    return os.access(GNU_TIME, os.X_OK)


def run_once(
    argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Sample:
    """Run ``argv`` to completion; return its wall time and peak RSS.

    A child's peak RSS counts the memory of the process it was forked from
    until it calls exec, so the figure comes from GNU time, a small process, when
    it is installed. Otherwise it comes from ``os.wait4`` on this very child,
    which at least never inherits an earlier, bigger child's peak as
    ``RUSAGE_CHILDREN`` would.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".rss") as rss,
    ):
        command = list(argv)
        if _has_gnu_time():
            command = [GNU_TIME, "-f", "%M", "-o", rss.name, *command]
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        reported = rss.read().strip().splitlines()

    if process.returncode != 0:
        text = (stderr or stdout).decode(errors="replace").strip().splitlines()
        detail = text[-1] if text else f"exit status {process.returncode}"
        raise CommandFailed(f"{Path(argv[0]).name} exited {process.returncode}: {detail}")
    peak_kib = int(reported[-1]) if reported and reported[-1].isdigit() else usage.ru_maxrss
    return Sample(elapsed, peak_kib * 1024, stdout.decode(errors="replace"))


def best_of(
    label: str,
    runs: int,
    argv: Sequence[str],
    *,
    before: Callable[[], None] | None = None,
    after: Callable[[], None] | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Measurement:
    """Run a command ``runs`` times, with untimed ``before``/``after`` steps around each run."""
    measurement = Measurement(label)
    for _ in range(runs):
        if before:
            before()
        # Every run starts with nothing waiting to be written to disk, so none
        # pays for the writeback of the one before (tar's or ours).
        os.sync()
        try:
            measurement.samples.append(run_once(argv, cwd=cwd, env=env))
        except CommandFailed as failure:
            measurement.error = str(failure)
            break
        finally:
            if after:
                after()
    return measurement


def clear_folder(folder: Path) -> None:
    """Remove ``folder`` and everything in it, if it exists."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)


def filesystem_of(path: Path) -> str:
    """The type and mount point of the filesystem holding ``path``, from ``/proc/mounts``."""
    target = str(path.resolve())
    best = ("?", "/")
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount_point = parts[1].replace("\\040", " ")
                inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best[1]):
                    best = (parts[2], mount_point)
    except OSError:
        pass
    return f"{best[0]} (mounted at {best[1]})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(argv: Sequence[str]) -> str | None:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else None


def describe_machine(workdir: Path, tools: dict[str, str | None]) -> dict[str, object]:
    """Cores, CPU, memory, Python, filesystems and tool versions, for the report header."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    versions = {
        "tar": _version(["tar", "--version"]),
        "pigz": _version([tools["pigz"], "--version"]) if tools.get("pigz") else None,
        "jellycell": _version([tools["jellycell"], "--version"])
        if tools.get("jellycell")
        else None,
    }
    return {
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "cpu": _cpu_model(),
        "memory": _memory_total(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "workdir": str(workdir),
        "workdir_filesystem": filesystem_of(workdir),
        "memory_method": memory_method(),
        "tools": versions,
    }
