"""Make a demo jellycell project beside the tour notebook, and optionally run the tour."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BINDER = Path(__file__).resolve().parent
TOUR = BINDER / "tour.ipynb"
DEFAULT_INTO = BINDER.parent / ".demo"
JELLYCELL = Path(sys.executable).with_name("jellycell")

PROJECT_FOLDER = "demo-project"
PROJECT_NAME = "demo"
MARKER = ".jellycell-demo"
TOUR_TIMEOUT_SECONDS = 300
SHOWN_RESTORED_FILES = 6

RAINFALL_CSV = """\
month,station,mm
2024-01,north,81
2024-01,south,42
2024-01,coast,120
2024-02,north,64
2024-02,south,35
2024-02,coast,98
2024-03,north,70
2024-03,south,51
2024-03,coast,87
"""

ANALYSIS_NOTEBOOK = """\
# /// script
# requires-python = ">=3.11"
# dependencies = []
# ///

# %% [markdown]
# # Rainfall
#
# Monthly rainfall at three stations: read the table, total it per station and
# save the totals as an artifact.

# %% tags=["jc.load", "name=raw"]
import csv

with open("data/rainfall.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))

# %% tags=["jc.step", "name=totals", "deps=raw"]
import jellycell.api as jc

totals: dict[str, int] = {}
for row in rows:
    totals[row["station"]] = totals.get(row["station"], 0) + int(row["mm"])
jc.save(totals, "artifacts/totals.json", caption="Rainfall per station, mm")
totals
"""


class DemoError(Exception):
    """A step of the demo failed; ``str()`` is one line a person can act on."""


def main(argv: list[str] | None = None) -> int:
    """Make the demo (and with ``--execute`` run the tour); 0 on success, 1 on failure."""
    args = parse_args(argv)
    try:
        folder = make_demo(args.into)
        if args.execute:
            execute_tour(folder)
            print_outcome(folder)
        else:
            print(f"demo project  {folder / PROJECT_FOLDER}")
            print(f"tour notebook {folder / TOUR.name}")
    except ImportError as error:
        fail(f"{error.name} is not installed in {sys.executable}; pip install -e '.[test]'")
        return 1
    except (DemoError, OSError) as error:
        fail(str(error))
        return 1
    return 0


def fail(message: str) -> None:
    """Print the one-line error every failure ends in."""
    print(f"make_demo: error: {message}", file=sys.stderr)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=(
            "Make a jellycell project with the real jellycell command line, put the tour "
            "notebook beside it, and with --execute run the tour and show what it did."
        )
    )
    parser.add_argument(
        "--into",
        type=Path,
        default=DEFAULT_INTO,
        help="folder to (re)create for the demo (default: .demo in the repository)",
    )
    parser.add_argument(
        "--execute",
        action="store_true",
        help="run the tour notebook headlessly and print the checkpoint it made",
    )
    return parser.parse_args(argv)


def make_demo(into: Path) -> Path:
    """Replace ``into`` with a fresh demo: a run jellycell project and the tour notebook."""
    folder = into.expanduser().absolute()
    replace_folder(folder)

    jellycell("init", PROJECT_FOLDER, "--name", PROJECT_NAME, cwd=folder)
    project = folder / PROJECT_FOLDER
    jellycell("new", "analysis", cwd=project)
    (project / "data" / "rainfall.csv").write_text(RAINFALL_CSV)
    (project / "notebooks" / "analysis.py").write_text(ANALYSIS_NOTEBOOK)
    jellycell("run", "notebooks/analysis.py", cwd=project)

    shutil.copyfile(TOUR, folder / TOUR.name)
    return folder


def replace_folder(folder: Path) -> None:
    """Empty ``folder`` for a new demo, refusing any non-empty folder this script did not make."""
    if folder.exists():
        if not folder.is_dir():
            raise DemoError(f"{folder} exists and is not a folder; choose another --into")
        if any(folder.iterdir()) and not (folder / MARKER).exists():
            raise DemoError(
                f"{folder} is not empty and was not made by make_demo.py; "
                "choose another --into or remove it"
            )
        shutil.rmtree(folder)

    folder.mkdir(parents=True)
    (folder / MARKER).write_text("Made by binder/make_demo.py; replaced on every run.\n")


def jellycell(*args: str, cwd: Path) -> None:
    """Run the jellycell command line installed beside this Python, or raise DemoError."""
    if not JELLYCELL.exists():
        raise DemoError(f"the jellycell command line is not installed at {JELLYCELL}")

    command = f"jellycell {' '.join(args)}"
    try:
        result = subprocess.run(
            [str(JELLYCELL), *args], cwd=cwd, capture_output=True, text=True, timeout=600
        )
    except subprocess.TimeoutExpired as error:
        raise DemoError(f"`{command}` in {cwd} took longer than 600 s") from error

    if result.returncode != 0:
        raise DemoError(
            f"`{command}` in {cwd} failed with exit code {result.returncode}: "
            f"{last_line(result.stderr) or last_line(result.stdout)}"
        )


def last_line(text: str) -> str:
    """The last non-empty line of a command's output, for one-line error messages."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def execute_tour(folder: Path) -> None:
    """Run ``folder/tour.ipynb`` in a fresh kernel of this Python and save its outputs."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = folder / TOUR.name
    notebook = nbformat.read(path, as_version=4)

    # With no kernel folders, "python3" is ipykernel's own spec for this very Python,
    # whatever python3 kernelspec a user or system folder may hold.
    specs = KernelSpecManager(kernel_dirs=[])
    kernel = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=TOUR_TIMEOUT_SECONDS,
        resources={"metadata": {"path": str(folder)}},
    )
    # The kernel's own chatter (transport warnings) stays out of the demo's output;
    # it is kept to explain a kernel that dies.
    with tempfile.TemporaryFile("w+") as kernel_log:
        try:
            client.execute(stderr=kernel_log)
        except CellExecutionError as error:
            raise DemoError(
                f"the tour notebook failed in cell {failed_cell(notebook)}: "
                f"{error.ename}: {last_line(error.evalue)}"
            ) from error
        except (CellTimeoutError, DeadKernelError, RuntimeError) as error:
            kernel_log.seek(0)
            raise DemoError(
                f"the tour notebook did not finish: {last_line(str(error))} "
                f"(kernel: {last_line(kernel_log.read())})"
            ) from error
        finally:
            nbformat.write(notebook, path)


def failed_cell(notebook: Any) -> str:
    """The 1-based number of the first code cell with an error output, as text."""
    for number, cell in enumerate(notebook.cells, start=1):
        if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            return str(number)
    return "?"


def print_outcome(folder: Path) -> None:
    """Print the checkpoint the tour made, the project's list, and the restored folder."""
    from jellycell_jupyter import archive
    from jellycell_jupyter.text import human_size

    try:
        project = archive.load_project(folder / PROJECT_FOLDER)
        listing = archive.list_checkpoints(project)
        if not listing.checkpoints:
            raise DemoError(f"the tour ran but {project.checkpoints_dir} holds no checkpoint")
        created = listing.checkpoints[0]
        verified = archive.verify(project, created.name)
        restored = archive.default_restore_target(project, created.name)
    except archive.CheckpointError as error:
        raise DemoError(str(error)) from error

    print(f"demo project  {project.root}")
    print(f"tour notebook {folder / TOUR.name} (executed, outputs saved)")
    print()
    print(f"checkpoint    {created.name}")
    print(f"  message     {created.message}")
    print(f"  archive     {created.path}")
    print(f"  files       {created.files}")
    print(f"  size        {human_size(created.size_bytes)} ({created.size_bytes} bytes)")
    print(f"  verified    {'ok' if verified.ok else 'FAILED'}, {verified.files} files checked")
    print()
    print(f"list          {len(listing.checkpoints)} checkpoint(s) of {listing.project}")
    for entry in listing.checkpoints:
        print(f"  {entry.name}  {human_size(entry.size_bytes):>9}  {entry.message or ''}")
    print()
    print_restored(restored)

    if not verified.ok:
        raise DemoError(f"checkpoint {created.name} failed verification: {verified.problems}")


def print_restored(restored: Path) -> None:
    """Print the restored folder and a few of its files, or raise if it is missing."""
    if not restored.is_dir():
        raise DemoError(f"the tour ran but the restored folder {restored} does not exist")

    files = sorted(
        (path.relative_to(restored) for path in restored.rglob("*") if path.is_file()),
        key=lambda relative: (hidden(relative), relative.as_posix()),
    )
    print(f"restored      {restored} ({len(files)} files)")
    for relative in files[:SHOWN_RESTORED_FILES]:
        print(f"  {relative.as_posix()}")
    if len(files) > SHOWN_RESTORED_FILES:
        print(f"  ... and {len(files) - SHOWN_RESTORED_FILES} more")


def hidden(relative: Path) -> bool:
    """Whether a path or any folder above it is a dotfile; those are listed last."""
    return any(part.startswith(".") for part in relative.parts)


if __name__ == "__main__":
    sys.exit(main())
