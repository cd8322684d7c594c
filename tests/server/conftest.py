"""A Jupyter server with the extension for every test here, and a small client for its API.

pytest-jupyter's fixtures are imported into this conftest rather than named in
``pytest_plugins``, so its autouse event-loop fixtures stay inside this folder
and never meet the browser tests or the other surfaces' tests.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.utils import url_path_join
from pytest_jupyter.jupyter_server import *  # noqa: F403
from traitlets.config import Config

from jellycell_jupyter import archive


@pytest.fixture
def jp_server_config() -> Config:
    """Only our extension, as a user's server would load it."""
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {
                    "jellycell_jupyter": True,
                    "jupyter_server_terminals": False,
                }
            }
        }
    )


@pytest.fixture
def jp_root_dir(tmp_path: Path) -> Path:
    """The server's root is ``tmp_path``, so the shared ``project`` fixture lies inside it."""
    return tmp_path


@dataclass
class Reply:
    """An HTTP answer: status code, headers and body."""

    code: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class Api:
    """``<base_url>/jellycell/api`` of the test server, answering every status instead of raising.

    Each path part is percent-encoded whole, so a name like ``../../x`` reaches
    the server as one path segment, as a browser's ``encodeURIComponent`` sends it.
    """

    def __init__(self, client: Any, base_url: str, auth: dict[str, str]) -> None:
        self._client = client
        self.base_url = base_url
        self.auth = auth

    def url(self, *parts: str, params: dict[str, str] | None = None) -> str:
        """The path and query of a route."""
        path = "/".join(
            ["jellycell", "api", *(urllib.parse.quote(part, safe="") for part in parts)]
        )
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return url_path_join(self.base_url, path) + query

    async def request(
        self,
        method: str,
        *parts: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> Reply:
        """Send one request with the token (unless ``headers`` replace it); ``body`` as JSON."""
        payload = raw_body
        if body is not None:
            payload = json.dumps(body).encode()
        if payload is None and method in {"POST", "PUT"}:
            payload = b""
        response = await self._client.fetch(
            self.url(*parts, params=params),
            method=method,
            body=payload,
            headers=self.auth if headers is None else headers,
            raise_error=False,
            allow_nonstandard_methods=True,
            request_timeout=120,
        )
        return Reply(response.code, response.headers, response.body or b"")

    async def get(self, *parts: str, **params: str) -> Reply:
        """GET with query arguments."""
        return await self.request("GET", *parts, params=params)

    async def post(self, *parts: str, body: Any = None) -> Reply:
        """POST a JSON body."""
        return await self.request("POST", *parts, body=body)

    async def delete(self, *parts: str, **params: str) -> Reply:
        """DELETE with query arguments."""
        return await self.request("DELETE", *parts, params=params)


@pytest.fixture
def api(http_server_client: Any, jp_base_url: str, jp_auth_header: dict[str, str]) -> Api:
    """A client of the checkpoint API, authenticated with the server's token."""
    return Api(http_server_client, jp_base_url, jp_auth_header)


def _tree(folder: Path) -> dict[str, int]:
    """Every path below ``folder`` with its size (-1 for folders), links not followed."""
    found = {}
    for parent, folders, files in os.walk(folder):
        for name in folders:
            found[os.path.relpath(os.path.join(parent, name), folder)] = -1
        for name in files:
            path = os.path.join(parent, name)
            found[os.path.relpath(path, folder)] = os.lstat(path).st_size
    return found


@pytest.fixture(scope="session")
def write_project(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``write_project`` of the shared ``tests/conftest.py``, for projects in other places."""
    shared = request.config.pluginmanager.get_plugin(str(Path(__file__).parents[1] / "conftest.py"))
    assert shared is not None, "tests/conftest.py was not loaded"
    writer: Callable[..., Path] = shared.write_project
    return writer


def _add_project(folder: Path, name: str) -> Path:
    """A project that is only its ``jellycell.toml``, for monorepo layouts."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jellycell.toml").write_text(f'[project]\nname = "{name}"\n', encoding="utf-8")
    return folder


@pytest.fixture
def tree() -> Callable[[Path], dict[str, int]]:
    """Every path below a folder with its size (-1 for folders), to show nothing was written."""
    return _tree


@pytest.fixture
def add_project() -> Callable[[Path, str], Path]:
    """Make a project that is only its ``jellycell.toml``, for monorepo layouts."""
    return _add_project


@dataclass(repr=False)
class LiveServer:
    """A ``jupyter server`` process started from the installed package."""

    url: str
    token: str
    root: Path
    env: dict[str, str]
    log: Path

    def __repr__(self) -> str:
        return f"LiveServer({self.url!r}, root={str(self.root)!r})"

    def fetch(
        self, method: str, path: str, body: bytes | None = None, auth: bool = True
    ) -> tuple[int, Any, bytes]:
        """One request to ``url + path``; returns status, headers and body."""
        headers = {"Authorization": f"token {self.token}"} if auth else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def hermetic_env(home: Path) -> dict[str, str]:
    """The environment without the caller's Jupyter settings; ``sys.prefix``'s stay visible."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTER", "IPYTHON", "XDG_")) and key != "PYTHONPATH"
    }
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(home / name.lower())
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
        env[name] = str(home / name.lower())
    env["HOME"] = str(home)
    return env


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, write_project: Callable[..., Path]
) -> Iterator[LiveServer]:
    """A real ``jupyter server`` on a free port, with projects in its root, stopped by PID."""
    base = tmp_path_factory.mktemp("live")
    root = base / "root"
    write_project(root / "demo")
    write_project(root / "mono" / "a", "a")
    write_project(root / "mono" / "b", "b")
    archive.create(root / "demo", name="c1")
    archive.create(root / "demo", name="c2")
    env = hermetic_env(base / "home")
    token = secrets.token_hex(16)
    port = _free_port()
    log = base / "server.log"
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "server",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.base_url=/odd%40base/",
        f"--IdentityProvider.token={token}",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, cwd=base, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    server = LiveServer(f"http://127.0.0.1:{port}/odd%40base/", token, root, env, log)
    try:
        _wait_until_up(server, process)
        yield server
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def _wait_until_up(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            pytest.fail(f"jupyter server exited early:\n{server.log.read_text()}")
        try:
            status, _, _ = server.fetch("GET", "api/status")
        except OSError:
            status = 0
        if status == 200:
            return
        time.sleep(0.1)
    pytest.fail(f"jupyter server did not answer /api/status:\n{server.log.read_text()}")
