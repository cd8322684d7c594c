"""The inline panel in a real JupyterLab in Chromium: it renders, and its buttons do their work."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from lab_harness import BrowserLog, LabServer, open_notebook, run_command
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def notebook(*sources: str) -> str:
    """An nbformat 4 notebook of code cells, for the Python 3 kernel."""
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"cell-{number}",
            "metadata": {},
            "outputs": [],
            "source": source,
        }
        for number, source in enumerate(sources)
    ]
    kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return json.dumps(
        {"cells": cells, "metadata": {"kernelspec": kernelspec}, "nbformat": 4, "nbformat_minor": 5}
    )


@pytest.mark.parametrize("interface", ["lab", "notebook"], ids=["jupyterlab", "notebook-7"])
def test_checkpoint_list_renders_the_panel_whose_buttons_create_and_restore(
    interface: str,
    page: Page,
    lab_server: LabServer,
    lab_root: Path,
    write_project: Callable[..., Path],
    browser_log: BrowserLog,
    screenshots: Path,
) -> None:
    folder = f"panel-demo-{interface}"
    project = write_project(lab_root / folder, name=folder)
    (project / "notebooks" / "panel.ipynb").write_text(
        notebook("%load_ext jellycell_jupyter", "%checkpoint list")
    )

    open_notebook(page, lab_server, f"{folder}/notebooks/panel.ipynb", interface=interface)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel"
        "?.status === 'idle'",
        timeout=60_000,
    )
    run_command(page, "notebook:run-all-cells")

    panel = page.locator(".jellycell-checkpoint-panel")
    expect(panel).to_be_visible(timeout=60_000)
    expect(panel).to_contain_text(f"Checkpoints of project {folder}")
    expect(panel).to_contain_text("No checkpoints yet")

    panel.get_by_placeholder("what this checkpoint is for (optional)").fill("from the browser")
    panel.get_by_role("button", name="Create").click()

    expect(panel).to_contain_text("Created checkpoint", timeout=60_000)
    expect(panel.get_by_role("button", name="Restore")).to_have_count(1)
    expect(panel).to_contain_text("from the browser")
    expect(panel.get_by_role("button", name="Create")).to_be_enabled()
    archives = list((project / ".jellycell" / "checkpoints").glob("*.tar.gz"))
    assert len(archives) == 1
    name = archives[0].name.removesuffix(".tar.gz")
    expect(panel).to_contain_text(name)

    target = project.parent / f"{folder}-restored-{name}"
    panel.get_by_role("button", name="Restore").click()
    expect(panel).to_contain_text(f"Restore {name} into {target}?")
    panel.screenshot(path=str(screenshots / f"panel-restore-prompt-{interface}.png"))
    assert not target.exists()

    panel.get_by_role("button", name="Confirm restore").click()

    expect(panel).to_contain_text(f"Restored checkpoint {name} into {target}", timeout=60_000)
    assert (target / "data" / "table.csv").read_bytes() == (
        project / "data" / "table.csv"
    ).read_bytes()
    panel.screenshot(path=str(screenshots / f"panel-restored-{interface}.png"))
    if interface == "lab":
        assert browser_log.page_errors == []
    else:
        # Notebook 7.6 raises these in its own bundle on notebook pages, with
        # this package's extension disabled too (the second after JupyterLab
        # ran on the same server).
        known = {
            "Cannot read properties of undefined (reading 'schema')",
            "Command 'filebrowser:open-path' not registered.",
        }
        assert browser_log.errors_except(known, "/static/notebook/") == []
