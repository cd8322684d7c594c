"""The checkpoint panel, driven through its widgets as a user's clicks would drive it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import jellycell_jupyter
from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointError, Progress
from jellycell_jupyter.widget import CheckpointPanel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def finished(panel: CheckpointPanel) -> CheckpointPanel:
    assert panel.wait(timeout=120), "the panel's operation did not finish"
    return panel


def all_buttons(panel: CheckpointPanel) -> list[Any]:
    buttons = [panel.create_button, panel.refresh_button]
    for row in panel.rows:
        buttons.extend(row.buttons)
    return buttons


def shown(panel: CheckpointPanel, widget: Any) -> bool:
    """Whether ``widget`` is displayed somewhere inside the panel."""
    stack = list(panel.children)
    while stack:
        item = stack.pop()
        if item is widget:
            return True
        stack.extend(getattr(item, "children", ()))
    return False


def names_on_disk(project: Path) -> set[str]:
    folder = project / ".jellycell" / "checkpoints"
    return {path.name.removesuffix(".tar.gz") for path in folder.glob("*.tar.gz")}


@pytest.fixture
def checkpointed(project: Path) -> Path:
    """The hand-made project with one checkpoint, ``first``, made by the archiver."""
    archive.create(project, message="first state", name="first")
    return project


class Gate:
    """A stand-in for an archiver call that holds the worker until the test lets it go."""

    def __init__(self, real: Any = None) -> None:
        self.real = real
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, *args: Any, progress: Any = None, **kwargs: Any) -> Any:
        self.calls += 1
        if progress is not None:
            progress(Progress("archive", 3, 12, 4096, 16384))
        self.started.set()
        assert self.release.wait(timeout=120), "the test never released the worker"
        return self.real(*args, progress=progress, **kwargs)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate(archive.create)
    monkeypatch.setattr(archive, "create", gate)
    yield gate
    gate.release.set()


def test_create_button_makes_a_checkpoint_and_a_row(project: Path) -> None:
    panel = CheckpointPanel(project)
    assert panel.rows == []

    panel.message_box.value = "  before refactor "
    panel.create_button.click()
    finished(panel)

    names = names_on_disk(project)
    assert len(names) == 1
    (name,) = names
    summary = archive.list_checkpoints(project).checkpoints[0]
    assert summary.message == "before refactor"
    assert [row.entry.name for row in panel.rows] == [name]
    assert "before refactor" in panel.rows[0].cells["message"].value
    assert panel.message_box.value == ""
    assert f"Created checkpoint {name}" in panel.result.value
    assert "⚠" not in panel.result.value
    assert "1 checkpoint<" in panel.header.value


def test_rows_follow_the_listing_newest_first(checkpointed: Path) -> None:
    panel = CheckpointPanel(checkpointed)

    panel.message_box.value = "second state"
    panel.create_button.click()
    finished(panel)

    listing = archive.list_checkpoints(checkpointed).checkpoints
    assert [row.entry for row in panel.rows] == listing
    assert {entry.message for entry in listing} == {"first state", "second state"}
    assert panel.table.children[1:] == tuple(panel.rows)


def test_buttons_are_disabled_while_work_runs_and_a_second_click_starts_nothing(
    project: Path, gate: Gate
) -> None:
    panel = CheckpointPanel(project)

    panel.create_button.click()
    assert gate.started.wait(timeout=60)

    assert panel.busy
    assert all(button.disabled for button in all_buttons(panel))
    assert panel.message_box.disabled
    assert panel.progress.layout.display != "none"
    assert panel.progress.bar.value == 250
    assert panel.progress.label.value == "archiving: 3 of 12 files, 4.00 KiB of 16.0 KiB"

    panel.create_button.click()
    panel.refresh_button.click()
    assert "still running" in panel.result.value

    gate.release.set()
    finished(panel)

    assert gate.calls == 1
    assert len(names_on_disk(project)) == 1
    assert not panel.busy
    assert not any(button.disabled for button in all_buttons(panel))
    assert not panel.message_box.disabled
    assert panel.progress.layout.display == "none"


def test_row_buttons_are_disabled_while_work_runs(checkpointed: Path, gate: Gate) -> None:
    panel = CheckpointPanel(checkpointed)
    row = panel.row("first")

    panel.create_button.click()
    assert gate.started.wait(timeout=60)
    assert all(button.disabled for button in row.buttons)

    row.delete_button.click()
    assert not shown(panel, panel.confirm_box)

    gate.release.set()
    finished(panel)
    assert not any(button.disabled for button in panel.row("first").buttons)
    assert "first" in names_on_disk(checkpointed)


def test_create_error_appears_in_the_panel(project: Path) -> None:
    checkpoints = project / ".jellycell" / "checkpoints"
    checkpoints.write_text("a file where the checkpoints folder belongs\n")
    panel = CheckpointPanel(project)

    panel.create_button.click()
    finished(panel)

    result = panel.result.value
    assert result.count("⚠") == 1
    assert "Creating checkpoint failed: " in result
    assert "checkpoints" in result
    assert "Traceback" not in result
    assert checkpoints.is_file()
    assert not any(button.disabled for button in all_buttons(panel))
    assert panel._repr_mimebundle_()["text/plain"].startswith("Checkpoints of project demo")


def test_existing_name_error_appears_in_the_panel(
    checkpointed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_create = archive.create

    def create_named_first(*args: Any, **kwargs: Any) -> Any:
        return real_create(*args, **{**kwargs, "name": "first"})

    monkeypatch.setattr(archive, "create", create_named_first)
    panel = CheckpointPanel(checkpointed)

    panel.create_button.click()
    finished(panel)

    with pytest.raises(CheckpointError) as expected:
        real_create(checkpointed, name="first")
    assert f"Creating checkpoint failed: {expected.value.message}" in panel.result.value.replace(
        "&#x27;", "'"
    )
    assert [row.entry.name for row in panel.rows] == ["first"]


def test_unexpected_exceptions_become_one_line(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk controller on fire\nsecond line")

    monkeypatch.setattr(archive, "create", broken)
    panel = CheckpointPanel(project)

    panel.create_button.click()
    finished(panel)

    assert "failed unexpectedly: RuntimeError: disk controller on fire" in panel.result.value
    assert "second line" not in panel.result.value
    assert not panel.busy
    assert not panel.create_button.disabled


def test_restore_asks_first_then_writes_the_sibling_folder(checkpointed: Path) -> None:
    panel = CheckpointPanel(checkpointed)
    row = panel.row("first")
    target = checkpointed.parent / "demo-restored-first"

    row.restore_button.click()

    assert shown(panel, panel.confirm_box)
    assert panel.prompt.value == (f"Restore <b>first</b> into <code>{target}</code>?")
    assert panel.target_field.value == str(target)
    assert "overwrite the target folder's files" in panel.force_box.description
    assert not target.exists()

    panel.confirm_button.click()
    finished(panel)

    assert (target / "data" / "table.csv").read_bytes() == (
        checkpointed / "data" / "table.csv"
    ).read_bytes()
    assert (target / "jellycell.toml").is_file()
    assert str(target) in panel.result.value
    assert "⚠" not in panel.result.value
    assert not shown(panel, panel.confirm_box)


def test_cancelled_restore_writes_nothing(checkpointed: Path) -> None:
    panel = CheckpointPanel(checkpointed)

    panel.row("first").restore_button.click()
    panel.cancel_button.click()

    assert not shown(panel, panel.confirm_box)
    assert sorted(p.name for p in checkpointed.parent.iterdir()) == ["demo"]


def test_restore_into_a_folder_with_files_needs_force(checkpointed: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (target / "data").mkdir(parents=True)
    (target / "data" / "table.csv").write_text("today's work\n")
    (target / "notes.txt").write_text("keep me\n")
    panel = CheckpointPanel(checkpointed)

    panel.row("first").restore_button.click()
    panel.target_field.value = str(target)
    assert f"<code>{target}</code>" in panel.prompt.value
    panel.confirm_button.click()
    finished(panel)

    assert "⚠" in panel.result.value
    assert (target / "data" / "table.csv").read_text() == "today's work\n"

    panel.row("first").restore_button.click()
    panel.target_field.value = str(target)
    panel.force_box.value = True
    assert "will be overwritten" in panel.prompt.value
    panel.confirm_button.click()
    finished(panel)

    assert "⚠" not in panel.result.value
    assert (target / "data" / "table.csv").read_bytes() == (
        checkpointed / "data" / "table.csv"
    ).read_bytes()
    assert (target / "notes.txt").read_text() == "keep me\n"


def test_delete_asks_first_then_removes_the_checkpoint(checkpointed: Path) -> None:
    panel = CheckpointPanel(checkpointed)

    panel.row("first").delete_button.click()
    assert "Delete checkpoint <b>first</b>?" in panel.prompt.value
    panel.cancel_button.click()
    assert names_on_disk(checkpointed) == {"first"}

    panel.row("first").delete_button.click()
    panel.confirm_button.click()
    finished(panel)

    assert names_on_disk(checkpointed) == set()
    assert not (checkpointed / ".jellycell" / "checkpoints" / "first.json").exists()
    assert panel.rows == []
    assert shown(panel, panel.empty)
    assert "Deleted checkpoint first." in panel.result.value


def test_deleting_a_checkpoint_removed_behind_the_panels_back(checkpointed: Path) -> None:
    panel = CheckpointPanel(checkpointed)
    archive.delete(checkpointed, "first")

    panel.row("first").delete_button.click()
    panel.confirm_button.click()
    finished(panel)

    assert "⚠" in panel.result.value
    assert "no checkpoint named" in panel.result.value
    assert panel.rows == []


def test_verify_reports_an_intact_and_a_damaged_archive(checkpointed: Path) -> None:
    panel = CheckpointPanel(checkpointed)

    panel.row("first").verify_button.click()
    finished(panel)
    assert "Checkpoint first is intact" in panel.result.value

    archive_file = checkpointed / ".jellycell" / "checkpoints" / "first.tar.gz"
    data = bytearray(archive_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive_file.write_bytes(bytes(data))

    panel.row("first").verify_button.click()
    finished(panel)
    assert "⚠" in panel.result.value
    assert "first" in panel.result.value


def test_damaged_rows_are_marked(checkpointed: Path) -> None:
    archive_file = checkpointed / ".jellycell" / "checkpoints" / "first.tar.gz"
    with open(archive_file, "ab") as handle:
        handle.write(b"junk")
    panel = CheckpointPanel(checkpointed)

    row = panel.row("first")
    assert "damaged" in row.cells["status"].value
    assert row.problem_line in row.children
    assert "first is damaged" in row.problem_line.value


def test_refresh_shows_checkpoints_made_elsewhere(project: Path) -> None:
    panel = CheckpointPanel(project)
    archive.create(project, name="from-a-terminal")

    assert panel.rows == []
    panel.refresh_button.click()

    assert [row.entry.name for row in panel.rows] == ["from-a-terminal"]


def test_empty_project_says_how_to_start(project: Path) -> None:
    panel = CheckpointPanel(project)

    assert shown(panel, panel.empty)
    assert not shown(panel, panel.table)
    assert "No checkpoints yet" in panel.empty.value
    assert "%checkpoint -m" in panel.empty.value
    assert shown(panel, panel.create_button)


def test_outside_a_project_the_panel_says_what_to_do(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    panel = CheckpointPanel(folder)

    assert panel.project is None
    assert "Not inside a jellycell project" in panel.header.value
    assert "jellycell init" in panel.header.value
    assert not shown(panel, panel.create_button)
    assert shown(panel, panel.refresh_button)
    bundle = panel._repr_mimebundle_()
    assert "jellycell init" in bundle["text/html"]
    assert "jellycell init" in bundle["text/plain"]

    (folder / "jellycell.toml").write_text('[project]\nname = "plain"\n')
    panel.refresh_button.click()

    assert panel.project is not None
    assert panel.project.root == folder.resolve()
    assert shown(panel, panel.create_button)


def test_mime_bundle_carries_the_widget_and_an_html_fallback(checkpointed: Path) -> None:
    panel = CheckpointPanel(checkpointed)

    bundle = panel._repr_mimebundle_()

    assert bundle[WIDGET_VIEW]["model_id"] == panel.model_id
    assert "<table>" in bundle["text/html"]
    assert "<code>first</code>" in bundle["text/html"]
    assert "first state" in bundle["text/html"]
    assert "first state" in bundle["text/plain"]
    assert bundle["text/plain"].startswith("Checkpoints of project demo")


def test_panel_function_finds_the_project_from_a_path_inside_it(project: Path) -> None:
    jellycell_jupyter.panel(project)
    panel = jellycell_jupyter.panel(project / "notebooks")

    assert isinstance(panel, CheckpointPanel)
    assert panel.project is not None
    assert panel.project.root == project.resolve()


def test_panel_starts_in_the_current_folder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project / "data")

    panel = CheckpointPanel()

    assert panel.project is not None
    assert panel.project.name == "demo"


def test_real_project_checkpoint_counts_its_files(real_project: Path) -> None:
    panel = CheckpointPanel(real_project)

    panel.message_box.value = "real"
    panel.create_button.click()
    finished(panel)

    assert "Created checkpoint" in panel.result.value
    (row,) = panel.rows
    created = archive.list_checkpoints(real_project).checkpoints[0]
    assert row.cells["files"].value == str(created.files)
    assert created.files is not None and created.files > 3
    assert panel.progress.label.value != "starting"
