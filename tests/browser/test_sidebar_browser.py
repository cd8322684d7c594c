"""The JupyterLab checkpoint sidebar in Chromium against a real ``jupyter lab``."""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from lab_harness import (
    SIDEBAR_ID,
    BrowserLog,
    LabServer,
    open_lab,
    open_sidebar,
    run_command,
    run_lab,
)
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "sidebar.png"
"""The README's picture of the sidebar; ``JELLYCELL_UPDATE_DOCS=1`` refreshes it."""


@pytest.fixture
def project_path(
    request: pytest.FixtureRequest, lab_root: Path, write_project: Callable[..., Path]
) -> str:
    """A fresh project in the lab's root, named after the test; its path in the server."""
    words = re.findall(r"[a-z0-9]+", request.node.name.lower())
    name = "-".join(words[1:3])
    write_project(lab_root / name, name=name)
    return name


def checkpoint_files(project: Path) -> list[Path]:
    """The archives in a project's checkpoints folder."""
    return sorted((project / ".jellycell" / "checkpoints").glob("*.tar.gz"))


def assert_no_page_errors(browser_log: BrowserLog) -> None:
    """No uncaught exception, and no console error from this extension."""
    assert browser_log.page_errors == []
    ours = [text for text in browser_log.console_errors if "jellycell" in text.lower()]
    assert ours == []


def accept_dialog(page: Page, title: str, button: str) -> None:
    """Wait for the dialog titled ``title`` and press its button labelled ``button``."""
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_contain_text(title)
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(dialog).to_have_count(0)


def test_create_download_verify_restore_delete(
    page: Page,
    lab_server: LabServer,
    write_project: Callable[..., Path],
    screenshots: Path,
    browser_log: BrowserLog,
    tmp_path: Path,
) -> None:
    project_path = "demo"
    project = write_project(lab_server.root / project_path, name=project_path)
    status, report = lab_server.api(
        "POST",
        "jellycell/api/checkpoints",
        {"project": project_path, "name": "baseline", "message": "first look at the data"},
    )
    assert status == 201, report
    open_lab(page, lab_server, f"{project_path}/notebooks")
    panel = open_sidebar(page)

    expect(panel.locator(".jp-JellycellPanel-projectName")).to_have_text(project_path)
    expect(panel.locator(".jp-JellycellPanel-projectPath")).to_have_text(f"/{project_path}")
    expect(panel.locator("li.jp-JellycellPanel-row")).to_have_count(1)

    panel.get_by_label("Checkpoint message").fill("before the refactor")
    panel.get_by_role("button", name="Create checkpoint").click()
    expect(panel.locator("li.jp-JellycellPanel-row")).to_have_count(2)
    row = panel.locator("li.jp-JellycellPanel-row").first
    expect(row).to_contain_text("before the refactor")
    expect(panel.locator(".jp-JellycellPanel-notice")).to_contain_text("Created checkpoint")
    expect(panel.locator("li.jp-JellycellPanel-row").last).to_contain_text("baseline")

    archives = [path for path in checkpoint_files(project) if path.name != "baseline.tar.gz"]
    assert len(archives) == 1
    name = archives[0].name.removesuffix(".tar.gz")
    assert row.get_attribute("data-checkpoint") == name
    expect(row.locator(".jp-JellycellPanel-name")).to_have_text(name)
    expect(row.locator("time")).to_have_text(re.compile(r"\d.* \((now|.+ ago)\)$"))
    page.screenshot(path=str(screenshots / "sidebar-light.png"))
    page.screenshot(
        path=str(screenshots / "sidebar-readme.png"),
        clip={"x": 0, "y": 0, "width": 820, "height": 520},
    )
    if os.environ.get("JELLYCELL_UPDATE_DOCS"):
        shutil.copyfile(screenshots / "sidebar-readme.png", DOCS_SCREENSHOT)

    with page.expect_download() as download_info:
        row.get_by_role("button", name=f"Download checkpoint {name}").click()
    downloaded = tmp_path / "downloaded.tar.gz"
    download_info.value.save_as(downloaded)
    assert downloaded.read_bytes() == archives[0].read_bytes()
    with tarfile.open(downloaded, "r:gz") as archive:
        members = set(archive.getnames())
        table = archive.extractfile("data/table.csv")
        assert table is not None
        assert table.read() == (project / "data" / "table.csv").read_bytes()
    assert {"jellycell.toml", "checkpoint.json", "notebooks/analysis.py"} <= members

    row.get_by_role("button", name=f"Verify checkpoint {name}").click()
    expect(panel.locator(".jp-JellycellPanel-notice")).to_contain_text(
        f"Checkpoint {name} is intact"
    )

    row.get_by_role("button", name=f"Restore checkpoint {name}").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(f"/{project_path}-restored-{name}")
    page.screenshot(path=str(screenshots / "restore-dialog.png"))
    accept_dialog(page, f"Restore checkpoint {name}", "Restore")

    restored = lab_server.root / f"{project_path}-restored-{name}"
    expect(page.locator(".jp-Dialog")).to_contain_text(f"/{project_path}-restored-{name}")
    assert (restored / "data" / "table.csv").read_bytes() == (
        project / "data" / "table.csv"
    ).read_bytes()
    assert (restored / "jellycell.toml").is_file()
    accept_dialog(page, "Checkpoint restored", "Open folder")

    # The file browser shows the restored folder, which is a project itself; the panel follows.
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text(restored.name)
    open_sidebar(page)
    expect(panel.locator(".jp-JellycellPanel-projectPath")).to_have_text(f"/{restored.name}")

    run_command(
        page, "filebrowser:go-to-path", {"path": f"/{project_path}", "dontShowBrowser": True}
    )
    expect(panel.locator(".jp-JellycellPanel-projectPath")).to_have_text(f"/{project_path}")
    row.get_by_role("button", name=f"Delete checkpoint {name}").click()
    accept_dialog(page, f"Delete checkpoint {name}", "Delete")
    expect(panel.locator("li.jp-JellycellPanel-row")).to_have_count(1)
    expect(panel.locator(".jp-JellycellPanel-notice")).to_contain_text(f"Deleted checkpoint {name}")
    assert [path.name for path in checkpoint_files(project)] == ["baseline.tar.gz"]
    assert not (project / ".jellycell" / "checkpoints" / f"{name}.json").exists()

    assert_no_page_errors(browser_log)


def test_restore_into_a_full_folder_shows_the_servers_refusal_then_force_merges(
    page: Page, lab_server: LabServer, project_path: str, browser_log: BrowserLog
) -> None:
    project = lab_server.root / project_path
    status, report = lab_server.api(
        "POST", "jellycell/api/checkpoints", {"project": project_path, "name": "base"}
    )
    assert status == 201, report
    target = lab_server.root / f"{project_path}-custom"
    (target / "data").mkdir(parents=True)
    (target / "data" / "table.csv").write_text("changed\n")
    (target / "keep.txt").write_text("mine\n")

    open_lab(page, lab_server, project_path)
    panel = open_sidebar(page)
    row = panel.locator('li[data-checkpoint="base"]')

    row.get_by_role("button", name="Restore checkpoint base").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_role("radio", name=re.compile("Another folder")).check()
    dialog.get_by_label("Restore target folder").fill(target.name)
    accept_dialog(page, "Restore checkpoint base", "Restore")
    error = panel.locator(".jp-JellycellPanel-error")
    expect(error).to_contain_text(target.name)
    expect(error).to_contain_text("force")
    assert (target / "data" / "table.csv").read_text() == "changed\n"

    row.get_by_role("button", name="Restore checkpoint base").click()
    dialog.get_by_role("radio", name=re.compile("Another folder")).check()
    dialog.get_by_label("Restore target folder").fill(target.name)
    dialog.get_by_role("checkbox").check()
    expect(dialog.locator(".jp-JellycellRestore-warning")).to_contain_text(
        f"Files in /{target.name} that the checkpoint also holds will be overwritten"
    )
    accept_dialog(page, "Restore checkpoint base", "Restore")
    accept_dialog(page, "Checkpoint restored", "Close")
    assert (target / "data" / "table.csv").read_bytes() == (
        project / "data" / "table.csv"
    ).read_bytes()
    assert (target / "keep.txt").read_text() == "mine\n"
    assert_no_page_errors(browser_log)


def test_unsaved_file_is_saved_into_the_checkpoint(
    page: Page, lab_server: LabServer, project_path: str, browser_log: BrowserLog
) -> None:
    project = lab_server.root / project_path
    open_lab(page, lab_server, f"{project_path}/notebooks/analysis.py")
    editor = page.locator(".jp-FileEditor .cm-content")
    editor.wait_for()
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\ny = 'typed in the browser'\n")
    expect(page.locator(".jp-mod-current.jp-mod-dirty")).to_have_count(1)

    panel = open_sidebar(page)
    expect(panel.locator(".jp-JellycellPanel-projectName")).to_have_text(project_path)
    run_command(page, "jellycell:create-checkpoint", {"message": "with the edit"})
    expect(panel.locator("li.jp-JellycellPanel-row")).to_have_count(1)

    [archive_file] = checkpoint_files(project)
    with tarfile.open(archive_file, "r:gz") as archive:
        member = archive.extractfile("notebooks/analysis.py")
        assert member is not None
        assert b"typed in the browser" in member.read()
    assert "typed in the browser" in (project / "notebooks" / "analysis.py").read_text()
    expect(page.locator(".jp-mod-current.jp-mod-dirty")).to_have_count(0)
    assert_no_page_errors(browser_log)


def test_outside_a_project_the_panel_says_how_to_make_one(
    page: Page, lab_server: LabServer, screenshots: Path, browser_log: BrowserLog
) -> None:
    (lab_server.root / "plain-folder").mkdir(exist_ok=True)
    (lab_server.root / "plain-folder" / "notes.txt").write_text("no project here\n")
    open_lab(page, lab_server, "plain-folder")
    panel = open_sidebar(page)

    expect(panel.locator(".jp-JellycellPanel-empty")).to_contain_text(
        "/plain-folder is not inside a jellycell project"
    )
    expect(panel.locator(".jp-JellycellPanel-code")).to_have_text("jellycell init")
    expect(panel.locator(".jp-JellycellPanel-create")).to_have_count(0)
    page.screenshot(path=str(screenshots / "outside-project.png"))
    assert_no_page_errors(browser_log)


def test_in_a_monorepo_folder_the_user_picks_a_project(
    page: Page,
    lab_server: LabServer,
    write_project: Callable[..., Path],
    browser_log: BrowserLog,
) -> None:
    monorepo = lab_server.root / "monorepo"
    write_project(monorepo / "alpha", name="alpha")
    write_project(monorepo / "beta", name="beta")
    status, report = lab_server.api(
        "POST",
        "jellycell/api/checkpoints",
        {"project": "monorepo/beta", "name": "beta-one", "message": "only in beta"},
    )
    assert status == 201, report

    open_lab(page, lab_server, "monorepo")
    panel = open_sidebar(page)
    expect(panel.locator(".jp-JellycellPanel-empty")).to_contain_text(
        "holds several jellycell projects"
    )
    panel.get_by_label("Project", exact=True).select_option("monorepo/beta")
    expect(panel.locator(".jp-JellycellPanel-projectName")).to_have_text("beta")
    expect(panel.locator('li[data-checkpoint="beta-one"]')).to_contain_text("only in beta")

    panel.get_by_label("Project", exact=True).select_option("monorepo/alpha")
    expect(panel.locator(".jp-JellycellPanel-projectName")).to_have_text("alpha")
    expect(panel.locator("li.jp-JellycellPanel-row")).to_have_count(0)
    assert_no_page_errors(browser_log)


def test_keyboard_reaches_the_create_form_and_the_row_actions(
    page: Page, lab_server: LabServer, project_path: str
) -> None:
    status, _ = lab_server.api(
        "POST", "jellycell/api/checkpoints", {"project": project_path, "name": "kb"}
    )
    assert status == 201
    open_lab(page, lab_server, project_path)
    panel = open_sidebar(page)
    expect(panel.locator('li[data-checkpoint="kb"]')).to_have_count(1)

    run_command(page, "jellycell:open-panel")
    message = panel.get_by_label("Checkpoint message")
    expect(message).to_be_focused()
    message.type("from the keyboard")
    page.keyboard.press("Enter")
    expect(panel.locator("li.jp-JellycellPanel-row").first).to_contain_text("from the keyboard")

    reached = []
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.getAttribute('aria-label')"))
    assert any(label and label.startswith("Restore checkpoint") for label in reached), reached


def test_dark_theme_colours_the_panel_from_the_theme(
    page: Page, lab_server: LabServer, project_path: str, screenshots: Path
) -> None:
    status, _ = lab_server.api(
        "POST",
        "jellycell/api/checkpoints",
        {"project": project_path, "message": "seen in the dark"},
    )
    assert status == 201
    open_lab(page, lab_server, project_path)
    panel = open_sidebar(page)
    expect(panel.locator("li.jp-JellycellPanel-row")).to_have_count(1)

    light = panel.evaluate("node => getComputedStyle(node).backgroundColor")
    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    dark = panel.evaluate("node => getComputedStyle(node).backgroundColor")
    text = panel.locator(".jp-JellycellPanel-rowMessage").evaluate(
        "node => getComputedStyle(node).color"
    )
    page.screenshot(path=str(screenshots / "sidebar-dark.png"))
    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})

    assert luminance(light) > 0.8
    assert luminance(dark) < 0.25
    assert luminance(text) > 0.6


def luminance(css_colour: str) -> float:
    """The relative brightness (0 to 1) of an ``rgb(...)`` colour."""
    red, green, blue = (int(part) for part in re.findall(r"\d+", css_colour)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def test_without_the_server_extension_the_panel_says_so(
    page: Page,
    tmp_path: Path,
    write_project: Callable[..., Path],
    screenshots: Path,
    browser_log: BrowserLog,
) -> None:
    root = tmp_path / "root"
    write_project(root / "demo", name="demo")
    with run_lab(tmp_path / "home", root, server_extension=False) as server:
        status, _ = server.api("GET", "jellycell/api/version")
        assert status == 404
        open_lab(page, server, "demo")
        panel = open_sidebar(page)
        expect(panel.locator(".jp-JellycellPanel-unavailable")).to_contain_text(
            "The jellycell-jupyter server extension is not installed or not enabled"
        )
        expect(panel.locator(".jp-JellycellPanel-create")).to_have_count(0)
        page.screenshot(path=str(screenshots / "no-server-extension.png"))
    assert browser_log.page_errors == []
    assert page.locator(f"#{SIDEBAR_ID}").count() == 1
