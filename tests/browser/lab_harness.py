"""Browser test helpers: start and call a real ``jupyter lab``, and drive its page."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "jellycell-browser-tests"
STARTUP_SECONDS = 90
SIDEBAR_ID = "jellycell-checkpoints"


@dataclass
class LabServer:
    """A running ``jupyter lab``: where it answers, its token, the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path
    pid: int

    def lab_url(self, path: str = "") -> str:
        """The JupyterLab page with the file browser at ``path``, workspace reset."""
        tree = f"tree/{path.strip('/')}" if path.strip("/") else ""
        return f"{self.url}lab/{tree}?reset&token={self.token}"

    def notebook_url(self, path: str) -> str:
        """The same server's Notebook 7 page of the notebook at ``path``."""
        return f"{self.url}notebooks/{path.strip('/')}?token={self.token}"

    def api(self, method: str, route: str, body: Any = None) -> tuple[int, Any]:
        """Call a REST route (``route`` below the base URL); return the status and the JSON."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + route.lstrip("/"),
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw)
            except ValueError:
                return error.code, raw.decode(errors="replace")

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the server's log, for failure messages."""
        return self.log.read_text(errors="replace")[-chars:]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hermetic_env(home: Path, *, theme: str | None = None) -> dict[str, str]:
    """The environment with every Jupyter, IPython and XDG home inside ``home``.

    The JupyterLab user settings there turn off the news and update toasts,
    which would otherwise cover the page, and optionally choose a theme.
    """
    env = dict(os.environ)
    homes = {
        "HOME": "home",
        "JUPYTER_CONFIG_DIR": "jupyter-config",
        "JUPYTER_DATA_DIR": "jupyter-data",
        "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
        "XDG_CACHE_HOME": "xdg-cache",
        "XDG_CONFIG_HOME": "xdg-config",
        "XDG_DATA_HOME": "xdg-data",
    }
    for variable, folder in homes.items():
        path = home / folder
        path.mkdir(parents=True, exist_ok=True)
        env[variable] = str(path)
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)

    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    if theme:
        (settings / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
    return env


@contextlib.contextmanager
def run_lab(
    home: Path, root: Path, *, server_extension: bool = True, theme: str | None = None
) -> Iterator[LabServer]:
    """Start ``jupyter lab`` from the installed package on a free port; stop it by its PID.

    ``server_extension=False`` starts it with jellycell_jupyter's server
    extension disabled, as a user who never enabled it would have it.
    """
    port = free_port()
    log = home / "lab.log"
    home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--ServerApp.terminals_enabled=False",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    if not server_extension:
        command.append("--ServerApp.jpserver_extensions=jellycell_jupyter=False")

    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=hermetic_env(home, theme=theme),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        server = LabServer(f"http://127.0.0.1:{port}/", TOKEN, root, log, process.pid)
        try:
            _wait_until_up(server, process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(server: LabServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            status, _ = server.api("GET", "api/status")
            if status == 200:
                return
        except OSError:
            pass
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"jupyter lab did not answer in {STARTUP_SECONDS} s:\n{server.log_tail()}")
        time.sleep(0.2)


@dataclass
class BrowserLog:
    """What the page reported on its console and as uncaught errors."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    page_error_stacks: list[str] = field(default_factory=list)

    def errors_except(self, known: set[str], bundle: str) -> list[str]:
        """Uncaught errors, except the ``known`` ones raised wholly inside ``bundle``.

        ``bundle`` is a part of a script's URL, such as Notebook 7's own
        ``/static/notebook/``. A known message that passed through any other
        script stays, and so does every other error.
        """
        kept = []
        for message, stack in zip(self.page_errors, self.page_error_stacks, strict=True):
            sources = [line for line in stack.splitlines() if "http" in line]
            inside = bool(sources) and all(bundle in line for line in sources)
            if not (message in known and inside):
                kept.append(message)
        return kept


def open_lab(page: Page, server: LabServer, path: str = "") -> None:
    """Open JupyterLab with the file browser at ``path`` and wait until it is ready."""
    page.goto(server.lab_url(path))
    page.wait_for_selector("#jp-main-dock-panel", state="attached", timeout=60_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=60_000)
    page.evaluate("() => window.jupyterapp.restored")


def open_notebook(page: Page, server: LabServer, path: str, *, interface: str) -> None:
    """Open the notebook at ``path`` in ``interface`` (``lab`` or ``notebook``, for Notebook 7).

    Both expose their application to the page, so one test drives either.
    """
    if interface == "lab":
        open_lab(page, server, path)
    else:
        page.goto(server.notebook_url(path))
        page.wait_for_selector(".jp-Notebook", state="attached", timeout=60_000)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.started", timeout=60_000
        )
        page.evaluate("() => window.jupyterapp.restored")


def open_sidebar(page: Page) -> Any:
    """Click the checkpoint sidebar's tab; return the panel's locator."""
    tab = page.locator(f'.jp-SideBar [data-id="{SIDEBAR_ID}"]')
    tab.click()
    panel = page.locator(f"#{SIDEBAR_ID}")
    panel.wait_for(state="visible")
    return panel


def run_command(page: Page, command: str, args: dict[str, Any] | None = None) -> Any:
    """Execute a JupyterLab command in the page (the app is exposed by the harness)."""
    return page.evaluate(
        "([command, args]) => window.jupyterapp.commands.execute(command, args)",
        [command, args or {}],
    )
