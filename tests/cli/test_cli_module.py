"""``python -m jellycell_jupyter``: jellycell's grammar, jellycell's JSON, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jellycell.cli.commands import checkpoint as jellycell_models

from jellycell_jupyter import __main__ as command_line
from jellycell_jupyter import archive

ERROR_KEYS = {"schema_version", "error"}


def cli(*words: str, cwd: Path, program: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter, as a user would."""
    argv = list(program or (sys.executable, "-m", "jellycell_jupyter"))
    return subprocess.run(
        [*argv, *words], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def json_out(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.stdout.count("\n") == 1, result.stdout
    return json.loads(result.stdout)


def test_every_verb_with_json_speaks_jellycells_models(project: Path, tmp_path: Path) -> None:
    created = cli("create", "-m", "from the terminal", "--name", "t1", "--json", cwd=project)
    listed = cli("list", "--json", cwd=project / "data")
    restored = cli("restore", "t1", "--into", "../copy", "--json", cwd=project)
    checked = cli("verify", "t1", "--project", "demo", "--json", cwd=tmp_path)

    for result in (created, listed, restored, checked):
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
    create_report = jellycell_models.CheckpointCreateReport.model_validate(json_out(created))
    assert create_report.message == "from the terminal"
    assert Path(create_report.path) == project / ".jellycell" / "checkpoints" / "t1.tar.gz"
    assert create_report.files == 5
    assert create_report.size_bytes == Path(create_report.path).stat().st_size
    list_report = jellycell_models.CheckpointListReport.model_validate(json_out(listed))
    assert [(e.name, e.message) for e in list_report.checkpoints] == [("t1", "from the terminal")]
    assert list_report.project == str(project)
    restore_report = jellycell_models.CheckpointRestoreReport.model_validate(json_out(restored))
    assert restore_report.target == str(tmp_path / "copy")
    assert (tmp_path / "copy" / "data" / "table.csv").read_bytes() == (
        project / "data" / "table.csv"
    ).read_bytes()
    verify_report = archive.CheckpointVerifyReport.model_validate(json_out(checked))
    assert verify_report.ok is True

    deleted = cli("delete", "t1", "--json", cwd=project)
    assert deleted.returncode == 0
    assert archive.CheckpointDeleteReport.model_validate(json_out(deleted)).name == "t1"
    assert not (project / ".jellycell" / "checkpoints" / "t1.tar.gz").exists()


def test_plain_output_is_for_people(project: Path) -> None:
    created = cli("-m", "plain words", "--name", "p1", cwd=project)
    listed = cli("list", cwd=project)

    assert created.returncode == 0
    assert created.stdout.startswith("checkpoint p1 -> ")
    assert "message: plain words" in created.stdout
    assert listed.returncode == 0
    assert "p1" in listed.stdout and "plain words" in listed.stdout
    assert created.stderr == listed.stderr == ""


def test_the_installed_script_is_the_same_command(project: Path) -> None:
    script = Path(sys.executable).with_name("jellycell-jupyter")

    result = cli("list", "--json", cwd=project, program=(str(script),))

    assert result.returncode == 0, result.stderr
    assert jellycell_models.CheckpointListReport.model_validate(json_out(result)).checkpoints == []


def test_a_damaged_checkpoint_fails_verify_with_exit_1(project: Path) -> None:
    made = archive.create(project, name="bad")
    path = Path(made.path)
    path.write_bytes(path.read_bytes()[:-200])

    result = cli("verify", "bad", "--json", cwd=project)

    assert result.returncode == 1
    report = archive.CheckpointVerifyReport.model_validate(json_out(result))
    assert report.ok is False
    assert report.problems


BAD_INPUT = [
    (["restore", "nope"], 1),
    (["restore", "../../x"], 1),
    (["restore", "a/b"], 1),
    (["verify", ".."], 1),
    (["delete", "nope"], 1),
    (["create", "--name", "exists"], 1),
    (["create", "--name", ".."], 1),
    (["restore", "exists", "--into", "data"], 1),
    (["restore", "exists", "--into", "jellycell.toml"], 1),
    (["restore", "exists", "--into", "/proc/not-here"], 1),
    (["list", "/"], 1),
    (["list", "no/such/folder"], 2),
    (["frobnicate"], 2),
    (["restore"], 2),
    (["--bogus"], 2),
    (["list", "--into", "x"], 2),
    (["restore", "exists", "--force=yes"], 2),
    (["create", "a", "b"], 2),
]


@pytest.mark.parametrize(("words", "code"), BAD_INPUT)
def test_bad_input_gets_one_line_and_an_exit_code(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    words: list[str],
    code: int,
) -> None:
    archive.create(project, name="exists")
    before = sorted(p.name for p in (project / ".jellycell" / "checkpoints").iterdir())
    monkeypatch.chdir(project)
    capsys.readouterr()

    plain_code = command_line.main(words)
    plain = capsys.readouterr()
    json_code = command_line.main([*words, "--json"])
    as_json = capsys.readouterr()

    assert plain_code == json_code == code
    assert plain.out == ""
    assert plain.err.startswith("error: ")
    assert plain.err.count("\n") == 1
    assert as_json.err == ""
    error = json.loads(as_json.out)
    assert set(error) == ERROR_KEYS
    assert error["schema_version"] == 1
    assert error["error"] == plain.err.removeprefix("error: ").strip()
    after = sorted(p.name for p in (project / ".jellycell" / "checkpoints").iterdir())
    assert after == before


@pytest.mark.parametrize(
    ("words", "code"), [(["restore", "../../x"], 1), (["restore", "exists", "--bogus"], 2)]
)
def test_a_real_process_never_shows_a_traceback(project: Path, words: list[str], code: int) -> None:
    archive.create(project, name="exists")

    plain = cli(*words, cwd=project)
    as_json = cli(*words, "--json", cwd=project)

    assert plain.returncode == as_json.returncode == code
    assert plain.stdout == as_json.stderr == ""
    assert plain.stderr.startswith("error: ") and plain.stderr.count("\n") == 1
    assert "Traceback" not in plain.stderr
    assert set(json_out(as_json)) == ERROR_KEYS


def test_a_broken_project_config_is_exit_1(project: Path) -> None:
    (project / "jellycell.toml").write_text('[paths]\ndata = "../x"\n')

    result = cli("list", "--json", cwd=project)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "jellycell.toml" in json_out(result)["error"]


def test_help_is_exit_0(project: Path) -> None:
    result = cli("--help", cwd=project)

    assert result.returncode == 0
    for verb in ("create", "list", "restore", "verify", "delete"):
        assert verb in result.stdout


def test_an_interrupt_is_exit_130_with_an_error_object(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.chdir(project)
    monkeypatch.setattr(archive, "create", interrupted)

    code = command_line.main(["-m", "x", "--json"])

    assert code == 130
    error = json.loads(capsys.readouterr().out)
    assert set(error) == ERROR_KEYS
    assert "interrupted" in error["error"]


def test_sigterm_while_the_package_loads_is_exit_143(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def terminated_while_importing(words: list[str]) -> int:
        raise command_line.Terminated

    monkeypatch.setattr(command_line, "_main", terminated_while_importing)

    code = command_line.main(["list", "--json"])

    assert code == 143
    assert "terminated" in json.loads(capsys.readouterr().out)["error"]


@pytest.mark.parametrize("words", [["list", "--json"], ["list"], ["--help"]])
def test_a_reader_that_went_away_is_no_failure(project: Path, words: list[str]) -> None:
    archive.create(project, name="one")
    read_end, write_end = os.pipe()
    os.close(read_end)  # gone before anything is written, as after `| head -c 0`
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "jellycell_jupyter", *words],
            cwd=project,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)

    assert finished.returncode == 0
    assert finished.stderr == ""
