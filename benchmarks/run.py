"""The speed benchmark: our create, restore and list against tar, pigz and the jellycell CLI.

``python benchmarks/run.py`` generates the projects once (into ``.bench/`` of
the checkout, or ``--workdir``), measures every command as a subprocess, prints
markdown tables and writes them, with the raw numbers as JSON, into the work
folder. ``--tiny`` runs the same steps on small projects in seconds; its
figures prove the harness works and mean nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from measure import (
    CommandFailed,
    Measurement,
    Sample,
    best_of,
    clear_folder,
    describe_machine,
    filesystem_of,
    run_once,
)
from projects import ProjectInfo, ProjectSpec, ensure_project
from report import (
    MB,
    TargetRow,
    comparison_table,
    machine_lines,
    ratio,
    seconds,
    targets_table,
    times,
    verdict,
)
from server_latency import status_latency_during_create

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
TOOLS = ["tar", "pigz", "jellycell", "ours"]
SECTIONS = ["listing", "many", "mixed", "server"]


@dataclass(frozen=True)
class Scale:
    """The projects and repetitions of one benchmark size."""

    name: str
    mixed: ProjectSpec
    many: ProjectSpec
    many_half: ProjectSpec
    listing: ProjectSpec
    checkpoints: int
    runs: int


FULL = Scale(
    "full",
    mixed=ProjectSpec("mixed-300mb", "mixed", seed=1, scale=1.0),
    many=ProjectSpec("files-50000", "many", seed=2, files=50_000),
    many_half=ProjectSpec("files-25000", "many", seed=2, files=25_000),
    listing=ProjectSpec("list-1000", "small", seed=3),
    checkpoints=1000,
    runs=3,
)
TINY = Scale(
    "tiny",
    mixed=ProjectSpec("mixed-tiny", "mixed", seed=1, scale=0.01),
    many=ProjectSpec("files-2000", "many", seed=2, files=2000),
    many_half=ProjectSpec("files-1000", "many", seed=2, files=1000),
    listing=ProjectSpec("list-50", "small", seed=3),
    checkpoints=50,
    runs=1,
)


def hermetic_env(home: Path) -> dict[str, str]:
    """The environment of every measured command: tool homes inside the work folder."""
    env = dict(os.environ)
    folders = {
        "TMPDIR": "tmp",
        "JUPYTER_CONFIG_DIR": "jupyter-config",
        "JUPYTER_DATA_DIR": "jupyter-data",
        "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
        "IPYTHONDIR": "ipython",
        "XDG_CACHE_HOME": "xdg-cache",
        "XDG_CONFIG_HOME": "xdg-config",
        "XDG_DATA_HOME": "xdg-data",
        "MPLCONFIGDIR": "matplotlib",
        # Bytecode is cached here, not in the checkout, so no run pays for recompiling.
        "PYTHONPYCACHEPREFIX": "pycache",
    }
    for variable, folder in folders.items():
        path = home / folder
        path.mkdir(parents=True, exist_ok=True)
        env[variable] = str(path)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    return env


def parse_json(text: str) -> dict[str, Any]:
    """The last JSON object a command printed, or an empty dict."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def describe(info: ProjectInfo) -> str:
    """A project's name with its file count and size."""
    return f"{info.root.name} ({info.files:,} files, {info.bytes / MB:.0f} MB)"


class Step:
    """One timed command of a run, with untimed preparation and cleanup around it."""

    def __init__(
        self,
        label: str,
        argv: Sequence[str],
        *,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        needs: Step | None = None,
    ) -> None:
        self.argv = list(argv)
        self.before = before
        self.after = after
        self.needs = needs
        self.measurement = Measurement(label)

    def run_once(self, bench: Benchmark) -> None:
        """Run the command once, unless it or the step it needs has failed."""
        if self.measurement.error:
            return
        if self.needs and self.needs.measurement.error:
            self.measurement.error = f"not run: {self.needs.measurement.label} failed"
            return
        if self.before:
            self.before()
        # Nothing waits to be written to disk when a run starts, so that none
        # pays for the writeback of the one before.
        os.sync()
        try:
            self.measurement.samples.append(bench.run(self.argv))
        except CommandFailed as failure:
            self.measurement.error = str(failure)
        finally:
            if self.after:
                self.after()


class Benchmark:
    """One run of every measurement, collecting results for the report."""

    def __init__(self, scale: Scale, workdir: Path, runs: int, tools: set[str]) -> None:
        self.scale = scale
        self.tools = tools
        self.workdir = workdir
        self.runs = runs
        self.projects_dir = workdir / "projects"
        self.out = workdir / "out"
        self.env = hermetic_env(workdir / "home")
        self.python = sys.executable
        self.pigz = shutil.which("pigz")
        jellycell = Path(sys.executable).with_name("jellycell")
        self.jellycell = str(jellycell) if jellycell.exists() else shutil.which("jellycell")
        self.measurements: dict[str, Measurement] = {}
        self.comparisons: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}
        self.notes: list[str] = []

    # -- commands

    def wants(self, tool: str) -> bool:
        """Whether ``tool`` was asked for and is installed."""
        installed = {"pigz": bool(self.pigz), "jellycell": bool(self.jellycell)}
        return tool in self.tools and installed.get(tool, True)

    def ours(self, *args: str) -> list[str]:
        """Our command line."""
        return [self.python, "-m", "jellycell_jupyter", *args]

    def jc(self, *args: str) -> list[str]:
        """The jellycell command line's checkpoint verbs, with JSON output."""
        assert self.jellycell
        return [self.jellycell, "--json", "checkpoint", *args]

    def log(self, text: str) -> None:
        """Say what is happening, on stderr, so stdout stays the report."""
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def measure(
        self,
        key: str,
        argv: Sequence[str],
        *,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        runs: int | None = None,
    ) -> Measurement:
        """Best of ``runs`` of ``argv``, stored under ``key``."""
        measurement = best_of(
            key,
            runs or self.runs,
            argv,
            before=before,
            after=after,
            cwd=self.workdir,
            env=self.env,
        )
        self.measurements[key] = measurement
        status = seconds(measurement.best) if measurement.ok else f"FAILED: {measurement.error}"
        self.log(f"{key}: {status}")
        return measurement

    def result(self, measurement: Measurement, size: int | None = None) -> dict[str, Any]:
        """A measurement as a cell of the comparison table."""
        return {
            "best": measurement.best,
            "peak_rss": measurement.peak_rss,
            "error": measurement.error,
            "size": size,
        }

    # -- sections

    def create_and_restore(self, info: ProjectInfo, restore_base: Path) -> dict[str, Any]:
        """Create and restore ``info`` with every tool; return the comparison rows' results.

        The runs are interleaved (every step once, then every step again) so
        that a machine whose load changes over minutes slows all tools alike.
        """
        root = info.root
        checkpoints = root / ".jellycell" / "checkpoints"
        tag = root.name
        archives = {"tar": self.out / f"{tag}.tar.gz", "pigz": self.out / f"{tag}.pigz.tar.gz"}
        steps = self._steps(root, checkpoints, archives, restore_base)

        clear_folder(checkpoints)
        for _ in range(self.runs):
            for step in steps:
                step.run_once(self)
        for step in steps:
            self.measurements[step.measurement.label] = step.measurement
            outcome = step.measurement
            state = seconds(outcome.best) if outcome.ok else f"FAILED: {outcome.error}"
            self.log(f"{outcome.label}: {state}")

        by_key = {step.measurement.label: step.measurement for step in steps}

        def result(operation: str, tool: str) -> dict[str, Any] | None:
            measurement = by_key.get(f"{operation}/{tag}/{tool}")
            return None if measurement is None else self.result(measurement)

        sections: dict[str, dict[str, Any]] = {"create": {}, "create_again": {}, "restore": {}}
        for tool in TOOLS:
            for operation, section in (
                ("create", "create"),
                ("create-again", "create_again"),
                ("restore", "restore"),
            ):
                cell = result(operation, tool)
                if cell is not None:
                    sections[section][tool] = cell
        for tool, archive in archives.items():
            if tool in sections["create"] and archive.exists():
                sections["create"][tool]["size"] = archive.stat().st_size
        for tool in ("jellycell", "ours"):
            measurement = by_key.get(f"create/{tag}/{tool}")
            if measurement and measurement.ok:
                sections["create"][tool]["size"] = parse_json(measurement.samples[-1].stdout).get(
                    "size_bytes"
                )
        again = by_key.get(f"create-again/{tag}/ours")
        if again and again.ok:
            sections["create_again"]["ours"]["reused_bytes"] = parse_json(
                again.samples[-1].stdout
            ).get("reused_bytes")

        clear_folder(checkpoints)
        clear_folder(restore_base / f"restored-{tag}")  # the trees set aside after each run
        for archive in archives.values():
            clear_folder(archive)
        return sections

    def _steps(
        self, root: Path, checkpoints: Path, archives: dict[str, Path], restore_base: Path
    ) -> list[Step]:
        """The timed steps of one run over ``root``, in the order they run.

        Creates come first; tar's restore and ours then run one after the
        other, since a disk's speed drifts over minutes of heavy writing.
        A restored tree is moved aside after its run and deleted only once
        the series is over: on ext4, deleting thousands of folders makes the
        next run's folders and files cost several times the system time.
        """
        tag = root.name
        steps: list[Step] = []
        restores: list[Step] = []
        aside = restore_base / f"restored-{tag}"
        moved = iter(range(1_000_000))

        def target(tool: str) -> Path:
            return restore_base / f"{tool}-{tag}"

        def fresh(tool: str, make: bool) -> Callable[[], None]:
            def prepare() -> None:
                clear_folder(target(tool))
                if make:
                    target(tool).mkdir(parents=True)

            return prepare

        def remove(tool: str) -> Callable[[], None]:
            def set_aside() -> None:
                if target(tool).exists():
                    aside.mkdir(parents=True, exist_ok=True)
                    target(tool).rename(aside / f"{tool}-{next(moved)}")

            return set_aside

        def empty_checkpoints() -> None:
            clear_folder(checkpoints)

        compressors = {"tar": ["-z"], "pigz": ["-I", self.pigz or "pigz"]}
        skip = "--exclude=./.jellycell/checkpoints"
        for tool in ("tar", "pigz"):
            if not self.wants(tool):
                continue
            archive = archives[tool]
            create = Step(
                f"create/{tag}/{tool}",
                ["tar", *compressors[tool], "-cf", str(archive), "-C", str(root), skip, "."],
                before=lambda archive=archive: clear_folder(archive),
            )
            extract = Step(
                f"restore/{tag}/{tool}",
                ["tar", *compressors[tool], "-xf", str(archive), "-C", str(target(tool))],
                before=fresh(tool, make=True),
                after=remove(tool),
                needs=create,
            )
            steps.append(create)
            restores.append(extract)

        if self.wants("jellycell"):
            create = Step(
                f"create/{tag}/jellycell",
                self.jc("create", str(root), "--name", "jc"),
                before=empty_checkpoints,
            )
            extract = Step(
                f"restore/{tag}/jellycell",
                self.jc("restore", "jc", "--project", str(root), "--into", str(target("jc"))),
                before=fresh("jc", make=False),
                after=remove("jc"),
                needs=create,
            )
            steps += [create, extract]

        if self.wants("ours"):
            first = Step(
                f"create/{tag}/ours",
                self.ours("create", str(root), "--name", "first", "--json"),
                before=empty_checkpoints,
            )

            def drop_second() -> None:
                for suffix in (".tar.gz", ".json"):
                    (checkpoints / f"second{suffix}").unlink(missing_ok=True)

            second = Step(
                f"create-again/{tag}/ours",
                self.ours("create", str(root), "--name", "second", "--json"),
                after=drop_second,
                needs=first,
            )
            into = ["--into", str(target("ours"))]
            extract = Step(
                f"restore/{tag}/ours",
                self.ours("restore", "first", "--project", str(root), *into, "--json"),
                before=fresh("ours", make=False),
                after=remove("ours"),
                needs=first,
            )
            steps += [first, second]
            restores.insert(1, extract)
        return steps + restores

    def run(self, argv: Sequence[str]) -> Sample:
        """One timed run in the work folder with the hermetic environment."""
        return run_once(argv, cwd=self.workdir, env=self.env)

    def ours_create_only(self, info: ProjectInfo) -> Measurement:
        """Our first create of ``info``, for its peak memory."""
        checkpoints = info.root / ".jellycell" / "checkpoints"
        measurement = self.measure(
            f"create/{info.root.name}/ours",
            self.ours("create", str(info.root), "--name", "first", "--json"),
            before=lambda: clear_folder(checkpoints),
        )
        clear_folder(checkpoints)
        return measurement

    def listing(self, info: ProjectInfo) -> dict[str, Any]:
        """List a project holding ``scale.checkpoints`` checkpoints, in process and by CLI."""
        root = info.root
        checkpoints = root / ".jellycell" / "checkpoints"
        clear_folder(checkpoints)
        count = self.scale.checkpoints
        maker = "ours"
        try:
            self.run(self.ours("create", str(root), "--name", "seed", "--json"))
        except CommandFailed as failure:
            self.notes.append(f"our create failed on the listing project ({failure})")
            if not self.jellycell:
                return {"error": str(failure)}
            maker = "jellycell"
            self.run(self.jc("create", str(root), "--name", "seed"))

        seed_archive, seed_sidecar = checkpoints / "seed.tar.gz", checkpoints / "seed.json"
        summary = json.loads(seed_sidecar.read_text())
        start = datetime(2025, 1, 1, tzinfo=UTC)
        for index in range(count):
            name = f"bench-{index:04d}"
            shutil.copyfile(seed_archive, checkpoints / f"{name}.tar.gz")
            summary["created_at"] = (start + timedelta(minutes=index)).isoformat(timespec="seconds")
            (checkpoints / f"{name}.json").write_text(json.dumps(summary, indent=2))
        seed_archive.unlink()
        seed_sidecar.unlink()

        outcome: dict[str, Any] = {"checkpoints": count, "made_by": maker}
        try:
            sample = self.run(
                [self.python, str(HERE / "inprocess.py"), "list", str(root), "--repeat", "20"]
            )
            outcome["in_process"] = parse_json(sample.stdout)
            self.log(
                f"list/{root.name}/in-process: median "
                f"{seconds(outcome['in_process'].get('median'))}"
            )
        except CommandFailed as failure:
            outcome["in_process"] = {"error": str(failure)}
            self.log(f"list/{root.name}/in-process: FAILED: {failure}")

        tools: dict[str, Any] = {}
        if self.wants("ours"):
            ours = self.measure(f"list/{root.name}/ours", self.ours("list", str(root), "--json"))
            tools["ours"] = self.result(ours)
        if self.wants("jellycell"):
            theirs = self.measure(f"list/{root.name}/jellycell", self.jc("list", str(root)))
            tools["jellycell"] = self.result(theirs)
        outcome["cli"] = tools
        return outcome

    def create_twice_in_process(self, info: ProjectInfo) -> dict[str, Any]:
        """Best first and second create of ``info`` timed inside one interpreter."""
        checkpoints = info.root / ".jellycell" / "checkpoints"
        script = str(HERE / "inprocess.py")
        runs: list[dict[str, float]] = []
        try:
            for _ in range(self.runs):
                clear_folder(checkpoints)
                sample = self.run([self.python, script, "create-twice", str(info.root)])
                runs.append(parse_json(sample.stdout))
        except CommandFailed as failure:
            return {"error": str(failure)}
        finally:
            clear_folder(checkpoints)
        first = min(run["first"] for run in runs)
        second = min(run["second"] for run in runs)
        self.log(f"create-twice/{info.root.name}/in-process: {seconds(first)}, {seconds(second)}")
        return {"first": first, "second": second}

    def profile(self, info: ProjectInfo, restore_base: Path) -> list[Path]:
        """cProfile of our create and restore of ``info``, by cumulative time, saved to files."""
        checkpoints = info.root / ".jellycell" / "checkpoints"
        into = restore_base / f"profile-{info.root.name}"
        profiler = [self.python, "-m", "cProfile", "-s", "cumtime", "-m", "jellycell_jupyter"]
        verbs = {
            "create": ["create", str(info.root), "--name", "profile", "--json"],
            "restore": ["restore", "profile", "--project", str(info.root), "--into", str(into)],
        }
        written = []
        clear_folder(checkpoints)
        clear_folder(into)
        try:
            for verb, words in verbs.items():
                result = subprocess.run(
                    [*profiler, *words],
                    cwd=self.workdir,
                    env=self.env,
                    capture_output=True,
                    text=True,
                )
                destination = self.workdir / f"profile-{verb}-{info.root.name}.txt"
                destination.write_text(result.stdout + result.stderr)
                written.append(destination)
        finally:
            clear_folder(checkpoints)
            clear_folder(into)
        return written

    def phases(self, info: ProjectInfo, restore_base: Path) -> dict[str, Any]:
        """In-process create and restore of ``info``, split by the phases progress reports."""
        checkpoints = info.root / ".jellycell" / "checkpoints"
        into = restore_base / f"phases-{info.root.name}"
        clear_folder(checkpoints)
        clear_folder(into)
        outcome: dict[str, Any] = {}
        script = str(HERE / "inprocess.py")
        try:
            create = self.run([self.python, script, "create", str(info.root), "--name", "phases"])
            outcome["create"] = parse_json(create.stdout)
            into_args = ["--into", str(into)]
            restore = self.run(
                [self.python, script, "restore", str(info.root), "--name", "phases", *into_args]
            )
            outcome["restore"] = parse_json(restore.stdout)
        except CommandFailed as failure:
            outcome["error"] = str(failure)
        finally:
            clear_folder(checkpoints)
            clear_folder(into)
        return outcome


def tmpfs_folder() -> tuple[Path | None, str]:
    """A fresh folder on /dev/shm if it is a writable tmpfs, else why not."""
    shm = Path("/dev/shm")  # noqa: S108 -- a private mkdtemp folder is made inside it
    if not shm.is_dir():
        return None, f"{shm} does not exist"
    filesystem = filesystem_of(shm)
    if not filesystem.startswith("tmpfs"):
        return None, f"{shm} is {filesystem}, not tmpfs"
    try:
        return Path(tempfile.mkdtemp(prefix="jellycell-bench-", dir=shm)), filesystem
    except OSError as error:
        return None, f"{shm} is not writable ({error.strerror})"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, to judge how busy the machine was."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _first_load(text: str) -> float:
    try:
        return float(text.split(" / ")[0])
    except ValueError:
        return 0.0


def git_revision() -> str:
    """The checkout's commit, with ``+changes`` when files differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" +changes" if dirty else "")


def build_targets(
    scale: Scale,
    projects: dict[str, ProjectInfo],
    sections: dict[str, Any],
    tmpfs_note: str,
) -> list[TargetRow]:
    """Each product target, with the measured value and whether it was met."""
    rows: list[TargetRow] = []
    mixed, many = sections.get("mixed", {}), sections.get("many", {})
    files = f"{projects['many'].files:,} small files"
    half = f"{projects['many_half'].files:,}"

    def best(section: dict[str, Any], operation: str, tool: str) -> float | None:
        return section.get(operation, {}).get(tool, {}).get("best")

    def size(section: dict[str, Any], tool: str) -> int | None:
        return section.get("create", {}).get(tool, {}).get("size")

    speed = ratio(best(mixed, "create", "ours"), best(mixed, "create", "tar"))
    bytes_ratio = ratio(size(mixed, "ours"), size(mixed, "tar"))
    met = None if speed is None or bytes_ratio is None else speed <= 0.10 and bytes_ratio <= 1.03
    rows.append(
        TargetRow(
            "create, mixed project, x tar -czf",
            "≤ 0.10x, archive ≤ 1.03x its size",
            f"{times(speed)}, archive {times(bytes_ratio, 3)}",
            verdict(met),
        )
    )

    speed = ratio(best(many, "create", "ours"), best(many, "create", "tar"))
    rows.append(
        TargetRow(
            f"create, {files}, x tar -czf",
            "≤ 0.8x",
            times(speed),
            verdict(None if speed is None else speed <= 0.8),
        )
    )

    speed = ratio(best(mixed, "restore", "ours"), best(mixed, "restore", "tar"))
    rows.append(
        TargetRow(
            "restore, mixed project, x tar -xzf",
            "≤ 0.6x",
            times(speed),
            verdict(None if speed is None else speed <= 0.6),
        )
    )

    speed = ratio(best(many, "restore", "ours"), best(many, "restore", "tar"))
    rows.append(
        TargetRow(
            f"restore, {files} on {tmpfs_note}, x tar -xzf",
            "≤ 1.5x",
            times(speed),
            verdict(None if speed is None else speed <= 1.5),
        )
    )

    again = ratio(best(mixed, "create_again", "ours"), best(mixed, "create", "ours"))
    reused = mixed.get("create_again", {}).get("ours", {}).get("reused_bytes")
    notes = [f"{reused / MB:.0f} MB reused"] if reused is not None else []
    in_process = mixed.get("in_process", {})
    if "second" in in_process:
        without_start = times(ratio(in_process["second"], in_process["first"]), 3)
        notes.append(
            f"without interpreter start-up {without_start}: "
            f"{seconds(in_process['second'])} after {seconds(in_process['first'])}"
        )
    rows.append(
        TargetRow(
            "second create of an unchanged mixed project, x first create",
            "≤ 0.05x",
            times(again, 3),
            verdict(None if again is None else again <= 0.05),
            "; ".join(notes),
        )
    )

    listing = sections.get("listing", {})
    in_process = listing.get("in_process", {})
    median = in_process.get("median")
    rows.append(
        TargetRow(
            f"list of {scale.checkpoints:,} checkpoints, in process",
            "≤ 20 ms",
            f"median {seconds(median)}, best {seconds(in_process.get('best'))}"
            if median is not None
            else "n/a",
            verdict(None if median is None else median <= 0.020),
            in_process.get("error", ""),
        )
    )

    peak = many.get("create", {}).get("ours", {}).get("peak_rss")
    peak_half = sections.get("many_half", {}).get("peak_rss")
    met = None
    if peak is not None and peak_half is not None:
        met = peak <= 80 * MB and peak <= peak_half * 1.10
    rows.append(
        TargetRow(
            f"peak memory of create, {files}",
            "≤ 80 MB, not growing with file count (≤ 10% over half the files)",
            f"{peak / MB:.0f} MB; {peak_half / MB:.0f} MB at {half} files"
            if peak is not None and peak_half is not None
            else "n/a",
            verdict(met),
        )
    )

    server = sections.get("server", {})
    during = server.get("during_create", {})
    p99 = during.get("p99_ms")
    if server.get("skipped"):
        measured, note = "skipped", server["skipped"]
    elif p99 is None:
        measured, note = "n/a", server.get("error", "no requests answered during the create")
    else:
        idle = server.get("idle", {})
        measured = f"p50 {during['p50_ms']:.1f} ms, p99 {p99:.1f} ms"
        note = (
            f"{during['requests']} requests, {during['failures']} failed, during a "
            f"{server['create_seconds']:.1f} s create; idle p99 {idle.get('p99_ms', 0):.1f} ms"
        )
    rows.append(
        TargetRow(
            "/api/status latency during a create of the mixed project",
            "p99 ≤ 50 ms",
            measured,
            verdict(None if p99 is None else p99 <= 50),
            note,
        )
    )
    return rows


def comparison_rows(projects: dict[str, ProjectInfo], sections: dict[str, Any]) -> list[dict]:
    """The rows of the all-measurements table."""
    rows = []
    for key in ("mixed", "many"):
        if key not in sections:
            continue
        project = describe(projects[key])
        section = sections[key]
        rows.append({"operation": "create", "project": project, "tools": section["create"]})
        rows.append(
            {
                "operation": "create again (unchanged)",
                "project": project,
                "tools": section["create_again"],
            }
        )
        rows.append(
            {
                "operation": f"restore (on {section['place']})",
                "project": project,
                "tools": section["restore"],
            }
        )
    if "many_half" in sections:
        rows.append(
            {
                "operation": "create",
                "project": describe(projects["many_half"]),
                "tools": {"ours": sections["many_half"]},
            }
        )
    listing = sections.get("listing", {})
    if "cli" in listing:
        rows.append(
            {
                "operation": f"list ({listing['checkpoints']:,} checkpoints, CLI)",
                "project": describe(projects["listing"]),
                "tools": listing["cli"],
            }
        )
    return rows


def phases_table(phases: dict[str, Any]) -> str:
    """In-process phase spans as a markdown table."""
    lines = [
        "| project | verb | total | phases (first report → last report) |",
        "| --- | --- | --- | --- |",
    ]
    for project, outcome in phases.items():
        if "error" in outcome:
            lines.append(f"| {project} | — | — | failed: {outcome['error']} |")
            continue
        for verb in ("create", "restore"):
            timing = outcome.get(verb, {})
            spans = ", ".join(
                f"{phase} {span['first']:.2f}→{span['last']:.2f} s"
                for phase, span in timing.get("phases", {}).items()
            )
            lines.append(f"| {project} | {verb} | {seconds(timing.get('total'))} | {spans} |")
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    """The whole report as markdown."""
    runs = results["runs"]
    parts = [
        f"## Speed benchmark ({results['scale']})",
        "",
        f"Run {results['started_at']} on commit {results['revision']}.",
        "",
        machine_lines(results["machine"]),
        "",
        f"Every figure is the best of {runs} warm run{'s' if runs > 1 else ''}: the page cache "
        "is not dropped (that needs root), so files are read from memory. Each command is timed "
        "as a subprocess from start to exit, Python start-up included; peak memory is the "
        "largest resident set of the process (see above how it is taken). "
        "`tar` is GNU tar with gzip (`-czf`/`-xzf`); `pigz` is `tar -I pigz`; `jellycell` is "
        "`jellycell checkpoint`; `ours` is `python -m jellycell_jupyter`. The projects hold "
        "only what a checkpoint archives, so every tool archives the same files.",
    ]
    if results["scale"] == "tiny":
        parts += [
            "",
            "**Tiny run:** the projects are small, so these figures only show that the "
            "harness works; the targets are for the full-size projects.",
        ]
    judged = results["scale"] != "tiny"
    parts += ["", "### Targets", "", targets_table(results["target_rows"], judged=judged)]
    parts += ["", "### All measurements", "", comparison_table(results["comparisons"], TOOLS)]
    if results.get("phases"):
        parts += ["", "### Phases of our create and restore, in process", ""]
        parts.append(phases_table(results["phases"]))
    if results.get("profiles"):
        listing = ", ".join(f"`{path}`" for path in results["profiles"])
        parts += ["", f"cProfile output of our create and restore: {listing}."]
    if results["notes"]:
        parts += ["", "Notes:", ""] + [f"- {note}" for note in results["notes"]]
    return "\n".join(parts) + "\n"


def _choices(allowed: list[str]) -> Callable[[str], set[str]]:
    def parse(text: str) -> set[str]:
        chosen = {word.strip() for word in text.split(",") if word.strip()}
        unknown = chosen - set(allowed)
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(sorted(unknown))}; choose from {','.join(allowed)}"
            )
        return chosen

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report and write it as markdown and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small projects, one run each")
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".bench", help="where projects and results go"
    )
    parser.add_argument("--runs", type=int, help="runs per measurement (default 3, tiny 1)")
    parser.add_argument("--no-server", action="store_true", help="skip the /api/status row")
    parser.add_argument(
        "--only",
        type=_choices(SECTIONS),
        default=set(SECTIONS),
        help=f"comma-separated sections to run, of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--tools",
        type=_choices(TOOLS),
        default=set(TOOLS),
        help=f"comma-separated tools to measure, of {','.join(TOOLS)} (default: all)",
    )
    parser.add_argument(
        "--phases", action="store_true", help="also time our create/restore phases in process"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile our create of the many-files project"
    )
    args = parser.parse_args(argv)

    scale = TINY if args.tiny else FULL
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Benchmark(scale, workdir, args.runs or scale.runs, args.tools)
    clear_folder(bench.out)
    bench.out.mkdir(parents=True)
    started = datetime.now(UTC)

    projects: dict[str, ProjectInfo] = {}
    for key in ("mixed", "many", "many_half", "listing"):
        spec: ProjectSpec = getattr(scale, key)
        began = time.perf_counter()
        projects[key] = ensure_project(spec, bench.projects_dir)
        bench.log(f"project {describe(projects[key])} ready in {time.perf_counter() - began:.1f} s")

    machine = describe_machine(workdir, {"pigz": bench.pigz, "jellycell": bench.jellycell})
    machine["load_before"] = load_average()
    if not bench.pigz:
        bench.notes.append("pigz is not installed; its column is empty (apt-get install pigz)")
    if not bench.jellycell:
        bench.notes.append("the jellycell CLI is not installed; its column is empty")

    # Compile and cache every interpreter's bytecode before anything is timed.
    warm_ups = [bench.ours("list", str(projects["listing"].root), "--json")]
    if bench.jellycell:
        warm_ups.append(bench.jc("list", str(projects["listing"].root)))
    for warm_up in warm_ups:
        subprocess.run(warm_up, cwd=workdir, env=bench.env, capture_output=True)

    sections: dict[str, Any] = {}
    tmpfs, tmpfs_fs = tmpfs_folder()
    tmpfs_note = "tmpfs" if tmpfs else f"disk ({tmpfs_fs})"
    if not tmpfs:
        bench.notes.append(f"no tmpfs for the small-files restore: {tmpfs_fs}; restored on disk")
    try:
        if "listing" in args.only:
            sections["listing"] = bench.listing(projects["listing"])
        if "many" in args.only:
            many = bench.create_and_restore(projects["many"], tmpfs or bench.out)
            many["place"] = tmpfs_note
            sections["many"] = many
            if bench.wants("ours"):
                half = bench.ours_create_only(projects["many_half"])
                sections["many_half"] = bench.result(half)
        if "mixed" in args.only:
            mixed = bench.create_and_restore(projects["mixed"], bench.out)
            mixed["place"] = "disk"
            if bench.wants("ours"):
                mixed["in_process"] = bench.create_twice_in_process(projects["mixed"])
            sections["mixed"] = mixed
        if args.no_server or "server" not in args.only:
            sections["server"] = {"skipped": "not asked for (--no-server or --only)"}
        else:
            bench.log("server: /api/status latency during a create")
            mixed_root = projects["mixed"].root
            clear_folder(mixed_root / ".jellycell" / "checkpoints")
            try:
                sections["server"] = status_latency_during_create(
                    bench.python,
                    workdir,
                    mixed_root,
                    "server",
                    bench.env,
                    workdir / "jupyter-server.log",
                )
            except (OSError, RuntimeError) as error:
                sections["server"] = {"error": str(error)}
            finally:
                clear_folder(mixed_root / ".jellycell" / "checkpoints")
        phases: dict[str, Any] = {}
        if args.phases:
            for key in ("mixed", "many"):
                phases[projects[key].root.name] = bench.phases(projects[key], tmpfs or bench.out)
        profiles: list[Path] = []
        if args.profile:
            profiles = bench.profile(projects["many"], tmpfs or bench.out)
            bench.log(f"profiles written to {', '.join(str(path) for path in profiles)}")
    finally:
        if tmpfs:
            clear_folder(tmpfs)

    machine["load_after"] = load_average()
    busiest = max(_first_load(machine["load_before"]), _first_load(machine["load_after"]))
    if busiest > (os.cpu_count() or 1):
        bench.notes.append(
            f"the machine was busy (1-minute load up to {busiest:.1f} on {os.cpu_count()} cores) "
            "while this ran: times are inflated and noisy, ratios less so"
        )
    results: dict[str, Any] = {
        "scale": scale.name,
        "started_at": started.isoformat(timespec="seconds"),
        "revision": git_revision(),
        "runs": bench.runs,
        "machine": machine,
        "projects": {
            key: {"name": info.root.name, "files": info.files, "bytes": info.bytes}
            for key, info in projects.items()
        },
        "sections": sections,
        "measurements": {key: m.as_dict() for key, m in bench.measurements.items()},
        "notes": bench.notes,
        "phases": phases,
        "profiles": [str(path) for path in profiles],
    }
    results["target_rows"] = build_targets(scale, projects, sections, tmpfs_note)
    results["comparisons"] = comparison_rows(projects, sections)
    markdown = render(results)
    results["target_rows"] = [row.as_dict() for row in results["target_rows"]]

    suffix = "" if scale is FULL else "-tiny"
    (workdir / f"results{suffix}.md").write_text(markdown)
    (workdir / f"results{suffix}.json").write_text(json.dumps(results, indent=2, default=str))
    print(markdown)
    bench.log(f"wrote {workdir / f'results{suffix}.md'} and results{suffix}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
