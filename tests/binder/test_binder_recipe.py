"""The mybinder.org recipe, replayed the way repo2docker runs it, in a fresh environment.

repo2docker installs ``binder/environment.yml`` (conda: Python and Node.js; pip:
the pinned packages), runs ``binder/postBuild`` from the repository root with
``$HOME`` as the notebook user's home, and starts the server through
``binder/start``. Here the machine's Python 3.11 and Node.js stand in for the
conda part, a new virtual environment for the image, and a copy of the
committed files for the repository.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOUR_URL = "/lab/tree/demo/tour.ipynb"
STEP_TIMEOUT_SECONDS = 900
SERVER_START_SECONDS = 90
ORIGINAL_RAINFALL_LINES = 10
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

# Hermetic folders of the outer test run; repo2docker sets none of them, so the
# recipe must work with Jupyter's defaults under the new $HOME.
UNSET = (
    "IPYTHONDIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_DATA_DIR",
    "JUPYTER_PATH",
    "JUPYTER_RUNTIME_DIR",
    "JUPYTERLAB_DIR",
    "JUPYTERLAB_SETTINGS_DIR",
    "JUPYTERLAB_WORKSPACES_DIR",
    "MPLCONFIGDIR",
    "PYTHONHOME",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
)

pytestmark = pytest.mark.slow


@dataclass
class BinderImage:
    """What the replayed build left: the repository copy, the environment, the log."""

    repo: Path
    home: Path
    bin: Path
    env: dict[str, str]
    log: Path


@dataclass
class Lab:
    """A running ``jupyter lab`` started through ``binder/start``."""

    url: str
    token: str

    def request(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """GET ``path`` with the token, without following redirects."""
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"token {self.token}"}
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand redirects back to the caller, so a test can read their Location."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def run_step(command: list[str], image_log: Path, *, cwd: Path, env: dict[str, str]) -> None:
    """Run one build step, appending its output to the build log; fail with its tail."""
    with image_log.open("a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        started = time.monotonic()
        result = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=STEP_TIMEOUT_SECONDS,
        )
        log.write(f"# exit {result.returncode} after {time.monotonic() - started:.0f} s\n")
    if result.returncode != 0:
        tail = "\n".join(image_log.read_text().splitlines()[-40:])
        pytest.fail(f"{' '.join(command)} failed with exit code {result.returncode}:\n{tail}")


def copy_committed_files(target: Path) -> None:
    """Copy the files git tracks, as mybinder.org would clone them."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout
    for name in filter(None, listing.split(b"\0")):
        source = REPO / os.fsdecode(name)
        if not source.exists() and not source.is_symlink():
            continue
        destination = target / os.fsdecode(name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)


def image_environment(home: Path, venv: Path) -> dict[str, str]:
    """The outer environment with a new $HOME, the new venv first and the test venv gone."""
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    outer_bin = str(Path(sys.prefix) / "bin")
    path = [entry for entry in env.get("PATH", "").split(os.pathsep) if entry != outer_bin]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["HOME"] = str(home)
    return env


def binder_pip_requirements() -> list[str]:
    environment = yaml.safe_load((REPO / "binder" / "environment.yml").read_text())
    sections = [dep["pip"] for dep in environment["dependencies"] if isinstance(dep, dict)]
    return [line for section in sections for line in section]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> BinderImage:
    """Build the binder image's equivalent: environment, package and demo, by the recipe."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed to build the JupyterLab extension, as in the binder image")
    base = tmp_path_factory.mktemp("binder")
    repo, home, venv = base / "repo", base / "home", base / "env"
    home.mkdir()
    copy_committed_files(repo)
    env = image_environment(home, venv)
    log = base / "build.log"

    run_step([sys.executable, "-m", "venv", str(venv)], log, cwd=base, env=env)
    requirements = base / "binder-requirements.txt"
    requirements.write_text("\n".join(binder_pip_requirements()) + "\n")
    # Bytecode compilation is left out: it is slow on small machines and not under test.
    pip_install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-compile"]
    run_step([*pip_install, "-r", str(requirements)], log, cwd=repo, env=env)
    run_step([str(repo / "binder" / "postBuild")], log, cwd=repo, env=env)
    return BinderImage(repo=repo, home=home, bin=venv / "bin", env=env, log=log)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def lab(image: BinderImage) -> Iterator[Lab]:
    """``binder/start jupyter lab`` from the repository copy, as the image would start it."""
    port, token = free_port(), secrets.token_urlsafe(24)
    command = [
        str(image.repo / "binder" / "start"),
        str(image.bin / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    server_log = image.home / "lab.log"
    with server_log.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=image.repo,
            env=image.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = Lab(url=f"http://127.0.0.1:{port}", token=token)
    try:
        wait_until_up(running, process, server_log)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(lab: Lab, process: subprocess.Popen[bytes], server_log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server_log.read_text()}")
        try:
            if lab.request("/api/status")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer /api/status:\n{server_log.read_text()}")


def jupyter_output(image: BinderImage, *args: str) -> str:
    result = subprocess.run(
        [str(image.bin / "jupyter"), *args],
        cwd=image.repo,
        env=image.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return ANSI_ESCAPE.sub("", result.stdout + result.stderr)


def page_config(page: bytes) -> dict[str, object]:
    match = re.search(
        rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
        page,
        re.DOTALL,
    )
    assert match, "the JupyterLab page carries no jupyter-config-data"
    return dict(json.loads(html.unescape(match.group(1).decode())))


def test_post_build_made_the_demo_project(image: BinderImage) -> None:
    demo = image.repo / "demo"

    assert (demo / "tour.ipynb").is_file()
    assert (demo / "demo-project" / "jellycell.toml").is_file()
    assert (demo / "demo-project" / "artifacts" / "totals.json").is_file()
    assert list((demo / "demo-project" / ".jellycell" / "cache" / "manifests").glob("*.json"))


def test_start_opens_jupyterlab_on_the_tour(lab: Lab) -> None:
    status, headers, _ = lab.request("/")
    assert status == 302
    assert headers["Location"].split("?")[0] == TOUR_URL

    status, _, page = lab.request(TOUR_URL)
    assert status == 200
    assert b"jupyter-config-data" in page

    status, _, body = lab.request("/api/contents/demo/tour.ipynb?content=0")
    assert status == 200
    assert json.loads(body)["type"] == "notebook"


def test_server_extension_is_enabled_and_answers(image: BinderImage, lab: Lab) -> None:
    listing = jupyter_output(image, "server", "extension", "list")
    assert re.search(r"jellycell_jupyter\s+enabled", listing), listing
    assert re.search(r"jellycell_jupyter\s+\S+\s+OK", listing), listing

    status, _, body = lab.request("/jellycell/api/version")
    assert status == 200, body
    assert json.loads(body)


def test_lab_extension_is_enabled_and_served(image: BinderImage, lab: Lab) -> None:
    listing = jupyter_output(image, "labextension", "list")
    assert re.search(r"jellycell-jupyter\s+v\S+\s+enabled\s+.*OK", listing), listing

    _, _, page = lab.request(TOUR_URL)
    federated = page_config(page).get("federated_extensions", [])
    assert isinstance(federated, list)
    assert "jellycell-jupyter" in [extension["name"] for extension in federated]


def test_tour_notebook_runs_headlessly_without_errors(image: BinderImage) -> None:
    demo = image.repo / "demo"
    run_step(
        [str(image.bin / "jupyter"), "execute", "--inplace", "tour.ipynb"],
        image.log,
        cwd=demo,
        env=image.env,
    )

    tour = nbformat.read(demo / "tour.ipynb", as_version=4)
    code = [cell for cell in tour.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert [out for cell in code for out in cell.outputs if out.output_type == "error"] == []

    archives = list((demo / "demo-project" / ".jellycell" / "checkpoints").glob("*.tar.gz"))
    assert len(archives) == 1
    restored = demo / f"demo-project-restored-{archives[0].name.removesuffix('.tar.gz')}"
    restored_rainfall = (restored / "data" / "rainfall.csv").read_text().splitlines()
    assert len(restored_rainfall) == ORIGINAL_RAINFALL_LINES
