"""``%checkpoint`` through a real IPython shell: parsing, quoting, reports, JSON, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from jellycell.cli.commands import checkpoint as jellycell_models

from jellycell_jupyter import archive
from jellycell_jupyter.magics import CheckpointMagics


def stored_message(project: Path, name: str) -> str | None:
    entries = {e.name: e for e in archive.list_checkpoints(project).checkpoints}
    return entries[name].message


def test_without_a_verb_the_magic_creates(ip: InteractiveShell, project: Path) -> None:
    result = ip.run_cell('%checkpoint -m "before refactor" --name first')

    assert result.success, result.error_in_exec
    report = result.result
    assert isinstance(report, archive.CheckpointCreateReport)
    assert report.name == "first"
    assert Path(report.path) == project / ".jellycell" / "checkpoints" / "first.tar.gz"
    assert Path(report.path).is_file()
    assert stored_message(project, "first") == "before refactor"


def test_create_verb_with_a_project_path(
    ip: InteractiveShell, project: Path, tmp_path: Path
) -> None:
    ip.run_line_magic("cd", str(tmp_path))

    report = ip.run_line_magic("checkpoint", "create demo/data --name from-outside")

    assert isinstance(report, archive.CheckpointCreateReport)
    assert report.project == str(project)
    assert (project / ".jellycell" / "checkpoints" / "from-outside.tar.gz").is_file()


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ('-m "it\'s a \\"test\\""', 'it\'s a "test"'),
        ("-m 'single quoted, with  two spaces'", "single quoted, with  two spaces"),
        ('--message="équipe ✓ naïve"', "équipe ✓ naïve"),
        ("-m plain", "plain"),
        ('-m ""', ""),
        ('-m "a # not a comment"', "a # not a comment"),
        ("-m 'C:\\data\\raw'", "C:\\data\\raw"),
        ('-m "semi;colons; and | pipes"', "semi;colons; and | pipes"),
    ],
)
def test_messages_are_stored_exactly_as_quoted(
    ip: InteractiveShell, project: Path, words: str, message: str
) -> None:
    result = ip.run_cell(f"%checkpoint {words} --name quoted")

    assert result.success, result.error_in_exec
    assert stored_message(project, "quoted") == message


def test_variables_are_never_expanded(ip: InteractiveShell, project: Path) -> None:
    ip.user_ns.update(x=5, name="expanded")
    text = "cost {x} and $x and $$x and {name!r}"

    cell = ip.run_cell(f'%checkpoint -m "{text}" --name by-cell')
    line = ip.run_line_magic("checkpoint", f'-m "{text}" --name by-line-{{name}}')

    assert cell.success, cell.error_in_exec
    assert stored_message(project, "by-cell") == text
    assert line.name == "by-line--name"
    assert stored_message(project, "by-line--name") == text


def test_names_given_are_made_safe(ip: InteractiveShell, project: Path) -> None:
    report = ip.run_line_magic("checkpoint", "--name 'my run/1'")

    assert report.name == "my-run-1"


def test_the_list_is_returned_to_code(ip: InteractiveShell, project: Path) -> None:
    ip.run_line_magic("checkpoint", "--name older")
    ip.run_line_magic("checkpoint", "-m newest --name newer")

    result = ip.run_cell("r = %checkpoint list")

    assert result.success, result.error_in_exec
    r = ip.user_ns["r"]
    assert isinstance(r, archive.CheckpointListReport)
    assert {c.name for c in r.checkpoints} == {"older", "newer"}
    first = ip.run_cell("r.checkpoints[0].name")
    assert first.result in {"older", "newer"}
    assert r.project == str(project)


def test_the_list_shows_as_a_table(ip: InteractiveShell, project: Path) -> None:
    ip.run_line_magic("checkpoint", "-m 'shown <b>escaped</b>' --name shown")

    report = ip.run_line_magic("checkpoint", "list")
    data, _ = ip.display_formatter.format(report)

    assert "<table" in data["text/html"]
    assert "shown" in data["text/html"]
    assert "<b>escaped</b>" not in data["text/html"]
    assert "shown" in data["text/plain"]
    assert "NAME" in data["text/plain"]


def test_restore_verify_and_delete(ip: InteractiveShell, project: Path, tmp_path: Path) -> None:
    ip.run_line_magic("checkpoint", "--name saved")

    default = ip.run_line_magic("checkpoint", "restore saved")
    chosen = ip.run_line_magic("checkpoint", "restore saved --into ../chosen")
    forced = ip.run_line_magic("checkpoint", "restore saved --into ../chosen --force")
    checked = ip.run_line_magic("checkpoint", "verify saved")
    deleted = ip.run_line_magic("checkpoint", "delete saved")

    assert isinstance(default, archive.CheckpointRestoreReport)
    assert Path(default.target) == tmp_path / "demo-restored-saved"
    assert (tmp_path / "demo-restored-saved" / "data" / "table.csv").is_file()
    assert Path(chosen.target) == tmp_path / "chosen"
    assert (tmp_path / "chosen" / "notebooks" / "analysis.py").is_file()
    assert forced.merged is True
    assert isinstance(checked, archive.CheckpointVerifyReport)
    assert checked.ok is True
    assert isinstance(deleted, archive.CheckpointDeleteReport)
    assert not (project / ".jellycell" / "checkpoints" / "saved.tar.gz").exists()
    assert archive.list_checkpoints(project).checkpoints == []


def test_restore_with_a_project_option_from_elsewhere(
    ip: InteractiveShell, project: Path, tmp_path: Path
) -> None:
    ip.run_line_magic("checkpoint", "--name saved")
    ip.run_line_magic("cd", str(tmp_path))

    report = ip.run_line_magic("checkpoint", "restore saved --project demo --into copy")

    assert Path(report.target) == tmp_path / "copy"
    assert (tmp_path / "copy" / "jellycell.toml").is_file()


# -- JSON ---------------------------------------------------------------------------------


def printed_json(capsys: pytest.CaptureFixture[str]) -> object:
    out = capsys.readouterr().out
    return json.loads(out)


def test_json_prints_the_report(
    ip: InteractiveShell, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    created = ip.run_line_magic("checkpoint", "-m 'as json' --name j --json")
    created_json = printed_json(capsys)
    listed = ip.run_line_magic("checkpoint", "list --json")
    listed_json = printed_json(capsys)
    restored = ip.run_line_magic("checkpoint", "restore j --json")
    restored_json = printed_json(capsys)
    checked = ip.run_line_magic("checkpoint", "verify j --json")
    checked_json = printed_json(capsys)

    assert created_json == json.loads(created.model_dump_json())
    assert listed_json == json.loads(listed.model_dump_json())
    assert restored_json == json.loads(restored.model_dump_json())
    assert checked_json == json.loads(checked.model_dump_json())
    theirs = jellycell_models.CheckpointCreateReport.model_validate(created_json)
    assert theirs.message == "as json"
    assert theirs.path == created.path
    assert (
        jellycell_models.CheckpointListReport.model_validate(listed_json).checkpoints[0].name == "j"
    )
    assert jellycell_models.CheckpointRestoreReport.model_validate(restored_json).target == (
        restored.target
    )


@pytest.mark.parametrize(
    "words",
    ["restore nope --json", "restore ../x --json", "verify 'a/b' --json", "delete nope --json"],
)
def test_json_failures_print_the_error_object(
    ip: InteractiveShell, project: Path, capsys: pytest.CaptureFixture[str], words: str
) -> None:
    capsys.readouterr()

    result = ip.run_cell(f"%checkpoint {words}")

    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert set(data) == {"schema_version", "error"}
    assert data["schema_version"] == 1
    assert data["error"]
    assert "Traceback" not in captured.err
    assert result.result is None


# -- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        "restore",
        "--bogus",
        "list --into x",
        '-m "never closed',
        "restore ../../x",
        "restore a/b",
        "restore ..",
        "restore nope",
        "verify nope",
        "delete nope",
        "restore saved --into ../a-file",
        "restore saved --into data",
        "--name saved",
    ],
)
def test_every_mistake_is_a_one_line_usage_error(
    ip: InteractiveShell,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    words: str,
) -> None:
    ip.run_line_magic("checkpoint", "--name saved")
    (tmp_path / "a-file").write_text("a file")
    capsys.readouterr()

    result = ip.run_cell(f"%checkpoint {words}")

    shown = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError)
    assert "Traceback" not in shown.err + shown.out
    lines = [line for line in shown.err.splitlines() if line.strip()]
    assert len(lines) == 1, shown.err
    assert lines[0].startswith("UsageError: ")
    assert (tmp_path / "a-file").read_text() == "a file"
    assert not (tmp_path / "x").exists()


def test_a_folder_outside_any_project_is_a_usage_error(
    ip: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    monkeypatch.chdir(lonely)

    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("checkpoint", "list")

    assert "jellycell init" in str(caught.value)
    assert not list(lonely.iterdir())


def test_a_broken_config_is_a_usage_error(ip: InteractiveShell, project: Path) -> None:
    (project / "jellycell.toml").write_text("[project\n")

    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("checkpoint", "-m x")

    assert "jellycell.toml" in str(caught.value)


def test_an_unquoted_message_is_explained_and_nothing_is_created(
    ip: InteractiveShell, project: Path
) -> None:
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("checkpoint", "-m before refactor")

    assert "refactor" in str(caught.value)
    assert '-m "before refactor"' in str(caught.value)
    assert not (project / ".jellycell" / "checkpoints").exists()


# -- help -------------------------------------------------------------------------------------


def test_the_docstring_is_the_manual(ip: InteractiveShell) -> None:
    info = ip.object_inspect("%checkpoint")
    doc = CheckpointMagics.checkpoint.__doc__ or ""

    assert info["found"]
    for needle in ("%checkpoint list", "restore NAME", "--json", "r = %checkpoint list", "{x}"):
        assert needle in doc
    assert "r = %checkpoint list" in (info.get("docstring") or "")


def test_help_prints_and_returns_nothing(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    top = ip.run_line_magic("checkpoint", "--help")
    top_text = capsys.readouterr().out
    restore = ip.run_line_magic("checkpoint", "restore --help")
    restore_text = capsys.readouterr().out

    assert top is None and restore is None
    assert "restore" in top_text and "list" in top_text
    assert "--into" in restore_text and "--force" in restore_text


def test_a_tilde_means_the_home_folder_as_in_a_shell(
    ip: InteractiveShell, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    ip.run_line_magic("checkpoint", "--name saved")

    restored = ip.run_line_magic("checkpoint", "restore saved --into ~/review")
    listed = ip.run_line_magic("checkpoint", "list ~/../demo")

    assert Path(restored.target) == home / "review"
    assert (home / "review" / "jellycell.toml").is_file()
    assert not (project / "~").exists()
    assert [entry.name for entry in listed.checkpoints] == ["saved"]


def test_an_interrupted_checkpoint_is_one_line(
    ip: InteractiveShell, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(archive, "create", interrupted)

    with pytest.raises(UsageError, match=r"^interrupted; nothing was left half-written$"):
        ip.run_line_magic("checkpoint", "-m 'stopped'")
    assert archive.list_checkpoints(project).checkpoints == []
