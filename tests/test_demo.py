"""`binder/make_demo.py --execute` makes a real project, runs the tour and reports true things."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
MAKE_DEMO = REPO / "binder" / "make_demo.py"
ORIGINAL_RAINFALL_LINES = 10

pytestmark = pytest.mark.slow


def make_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAKE_DEMO), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )


def printed(label: str, stdout: str) -> str:
    """The value printed after ``label`` at the start of a line."""
    match = re.search(rf"^\s*{label}\s+(.+)$", stdout, re.MULTILINE)
    assert match, f"make_demo.py printed no {label!r} line:\n{stdout}"
    return match.group(1).strip()


@dataclass
class Demo:
    folder: Path
    stdout: str
    first_stdout: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo made and executed twice into one folder: the second run must replace the first."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    first = make_demo("--execute", "--into", str(folder))
    assert first.returncode == 0, first.stderr
    (folder / "demo-project" / "data" / "stale.csv").write_text("left over\n")

    second = make_demo("--execute", "--into", str(folder))
    assert second.returncode == 0, second.stderr
    return Demo(folder=folder, stdout=second.stdout, first_stdout=first.stdout)


def test_printed_checkpoint_is_a_real_archive(demo: Demo) -> None:
    folder, stdout = demo.folder, demo.stdout
    name = printed("checkpoint", stdout)
    archive = Path(printed("archive", stdout))
    files = int(printed("files", stdout))

    assert archive == folder / "demo-project" / ".jellycell" / "checkpoints" / f"{name}.tar.gz"
    assert archive.with_suffix("").with_suffix(".json").is_file()
    with tarfile.open(archive, "r:gz") as tar:
        members = [member.name for member in tar.getmembers() if member.isfile()]
    assert "checkpoint.json" in members
    assert "data/rainfall.csv" in members
    assert "notebooks/analysis.py" in members
    assert any(member.startswith(".jellycell/cache/") for member in members)
    assert len(members) - 1 == files
    assert printed("message", stdout) == "before refactor"
    assert printed("verified", stdout).startswith("ok,")


def test_printed_list_names_the_checkpoint(demo: Demo) -> None:
    folder, stdout = demo.folder, demo.stdout
    name = printed("checkpoint", stdout)

    assert printed("list", stdout) == f"1 checkpoint(s) of {folder / 'demo-project'}"
    assert re.search(rf"^  {re.escape(name)}\s+.*before refactor$", stdout, re.MULTILINE)


def test_printed_restored_folder_holds_the_old_data(demo: Demo) -> None:
    folder, stdout = demo.folder, demo.stdout
    name = printed("checkpoint", stdout)
    restored_line = printed("restored", stdout)
    restored = Path(restored_line.split(" (")[0])

    assert restored == folder / f"demo-project-restored-{name}"
    restored_rainfall = (restored / "data" / "rainfall.csv").read_text().splitlines()
    live_rainfall = (folder / "demo-project" / "data" / "rainfall.csv").read_text().splitlines()
    assert len(restored_rainfall) == ORIGINAL_RAINFALL_LINES
    assert len(live_rainfall) < ORIGINAL_RAINFALL_LINES
    assert (restored / "jellycell.toml").is_file()
    assert (restored / "artifacts" / "totals.json").is_file()
    for shown in re.findall(r"^  (\S+)$", stdout.split("\nrestored ", 1)[1], re.MULTILINE):
        assert (restored / shown).is_file(), shown


def test_executed_tour_is_saved_without_errors(demo: Demo) -> None:
    folder = demo.folder
    tour = nbformat.read(folder / "tour.ipynb", as_version=4)
    code = [cell for cell in tour.cells if cell.cell_type == "code"]

    assert all(cell.execution_count for cell in code)
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert errors == []


def test_demo_is_made_by_the_jellycell_command_line(demo: Demo) -> None:
    folder = demo.folder
    project = folder / "demo-project"

    assert 'name = "demo"' in (project / "jellycell.toml").read_text()
    assert list((project / ".jellycell" / "cache" / "manifests").glob("*.json"))
    assert (project / "artifacts" / "totals.json").read_text().count('"north"') == 1


def test_second_run_replaced_the_first(demo: Demo) -> None:
    first_name = printed("checkpoint", demo.first_stdout)
    first_restored = Path(printed("restored", demo.first_stdout).split(" (")[0])

    assert first_name != printed("checkpoint", demo.stdout)
    assert not first_restored.exists()
    assert not (demo.folder / "demo-project" / "data" / "stale.csv").exists()
    checkpoints = demo.folder / "demo-project" / ".jellycell" / "checkpoints"
    assert [path.name for path in checkpoints.glob("*.tar.gz")] == [
        f"{printed('checkpoint', demo.stdout)}.tar.gz"
    ]


def test_refuses_to_replace_a_folder_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work\n")

    result = make_demo("--into", str(precious))

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("make_demo: error: ")
    assert (precious / "thesis.tex").read_text() == "years of work\n"
