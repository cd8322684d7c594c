"""The inline panel in a real JupyterLab in Chromium: it renders, and its Create button works."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "panel-browser-test"
SCREENSHOTS = os.environ.get("JELLYCELL_SCREENSHOTS")
"""A folder to copy screenshots into, for people who want to look at them."""


@dataclass
class Lab:
    """A running ``jupyter lab`` serving ``root``."""

    url: str
    root: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def notebook(*sources: str) -> str:
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
    return json.dumps(
        {
            "cells": cells,
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def hermetic_env(home: Path) -> dict[str, str]:
    """The environment with every Jupyter, IPython and XDG home inside ``home``."""
    env = dict(os.environ)
    for variable, folder in {
        "JUPYTER_CONFIG_DIR": "jupyter-config",
        "JUPYTER_DATA_DIR": "jupyter-data",
        "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
        "MPLCONFIGDIR": "matplotlib",
        "XDG_CACHE_HOME": "xdg-cache",
        "XDG_CONFIG_HOME": "xdg-config",
        "XDG_DATA_HOME": "xdg-data",
        "TMPDIR": "tmp",
    }.items():
        path = home / folder
        path.mkdir(parents=True, exist_ok=True)
        env[variable] = str(path)
    notification = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return env


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """``jupyter lab`` on a free port, serving a folder that holds a jellycell project."""
    root = tmp_path / "served"
    root.mkdir()
    port = free_port()
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={TOKEN}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.open_browser=False",
        ],
        env=hermetic_env(tmp_path / "home"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start:\n{read_log(tmp_path)}")
                time.sleep(0.25)
        yield Lab(url=url, root=root)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def read_log(tmp_path: Path) -> str:
    return (tmp_path / "lab.log").read_text(errors="replace")[-4000:]


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[object]:
    """A Chromium page from Debian's browser, with an empty profile of its own."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def test_checkpoint_list_renders_the_panel_and_create_adds_a_row(
    lab: Lab, browser_page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    project = lab.root / "demo"
    (project / "data").mkdir(parents=True)
    (project / "jellycell.toml").write_text('[project]\nname = "demo"\n')
    (project / "data" / "table.csv").write_text("a,b\n1,2\n" * 200)
    (project / "notebooks").mkdir()
    (project / "notebooks" / "panel.ipynb").write_text(
        notebook("%load_ext jellycell_jupyter", "%checkpoint list")
    )

    page.goto(f"{lab.url}/lab/tree/demo/notebooks/panel.ipynb?reset&token={TOKEN}")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=60_000,
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    panel = page.locator(".jellycell-checkpoint-panel")
    expect(panel).to_be_visible(timeout=60_000)
    expect(panel).to_contain_text("Checkpoints of project demo")
    expect(panel).to_contain_text("No checkpoints yet")

    panel.get_by_placeholder("what this checkpoint is for (optional)").fill("from the browser")
    panel.get_by_role("button", name="Create").click()

    expect(panel).to_contain_text("Created checkpoint", timeout=60_000)
    expect(panel).to_contain_text("from the browser")
    expect(panel.get_by_role("button", name="Restore")).to_have_count(1)
    expect(panel.get_by_role("button", name="Create")).to_be_enabled()

    archives = list((project / ".jellycell" / "checkpoints").glob("*.tar.gz"))
    assert len(archives) == 1
    row_name = archives[0].name.removesuffix(".tar.gz")
    expect(panel).to_contain_text(row_name)

    panel.get_by_role("button", name="Restore").click()
    expect(panel).to_contain_text(
        f"Restore {row_name} into {lab.root / f'demo-restored-{row_name}'}?"
    )

    shot = tmp_path / "panel.png"
    panel.screenshot(path=str(shot))
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(SCREENSHOTS) / "panel.png")
