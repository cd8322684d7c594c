"""The wheel ships the prebuilt JupyterLab extension and the server config; no Node to install."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[1]
LABEXTENSION = "share/jupyter/labextensions/jellycell-jupyter"
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/jellycell_jupyter.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(command: list[str], **kwargs: object) -> str:
    """Run a command; fail the test with its output if it fails; return stdout and stderr."""
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, **kwargs
    )
    output = ANSI.sub("", result.stdout + result.stderr)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}:\n{output[-6000:]}")
    return output


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --wheel`` of this checkout."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)], cwd=REPO)
    [built] = out.glob("jellycell_jupyter-*.whl")
    return built


def data_members(wheel: Path) -> dict[str, bytes]:
    """The wheel's ``*.data/data/`` files by their install path below the prefix."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            name.split(".data/data/", 1)[1]: archive.read(name)
            for name in archive.namelist()
            if ".data/data/" in name
        }


def test_wheel_holds_the_labextension_and_the_server_config(wheel: Path) -> None:
    files = data_members(wheel)

    config = json.loads(files[SERVER_CONFIG])
    assert config == {"ServerApp": {"jpserver_extensions": {"jellycell_jupyter": True}}}

    package = json.loads(files[f"{LABEXTENSION}/package.json"])
    assert package["name"] == "jellycell-jupyter"
    remote_entry = package["jupyterlab"]["_build"]["load"]
    assert f"{LABEXTENSION}/{remote_entry}" in files
    assert f"{LABEXTENSION}/static/style.js" in files
    schema = json.loads(files[f"{LABEXTENSION}/schemas/jellycell-jupyter/plugin.json"])
    assert schema["properties"]["saveBeforeCreate"]["default"] == "always"


def test_wheel_versions_agree(wheel: Path) -> None:
    from jellycell_jupyter import __version__

    package = json.loads(data_members(wheel)[f"{LABEXTENSION}/package.json"])
    assert package["version"] == __version__
    assert f"jellycell_jupyter-{__version__}-" in wheel.name


def test_wheel_installs_without_node_and_both_extensions_are_enabled(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    site_packages = Path(
        sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)})
    )
    # Borrow this environment's dependencies (jupyterlab, jupyter_server, ...) without
    # processing its .pth files, so its editable jellycell_jupyter stays invisible.
    (site_packages / "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    home = tmp_path / "home"
    env = {
        "PATH": str(target / "bin"),
        "HOME": str(home),
        "TMPDIR": os.environ.get("TMPDIR", str(tmp_path)),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    assert shutil.which("node", path=env["PATH"]) is None
    assert shutil.which("jlpm", path=env["PATH"]) is None

    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    # Run from an empty folder: from the checkout, Python would import its source instead.
    work = tmp_path / "work"
    work.mkdir()
    run([*pip, "install", "--no-deps", "--no-index", str(wheel)], env=env, cwd=work)
    assert (target / LABEXTENSION / "package.json").is_file()
    assert (target / SERVER_CONFIG).is_file()

    where = run(
        [str(python), "-c", "import jellycell_jupyter; print(jellycell_jupyter.__file__)"],
        env=env,
        cwd=work,
    )
    assert Path(where.strip()).is_relative_to(target)

    labextensions = run([str(python), "-m", "jupyterlab.labextensions", "list"], env=env, cwd=work)
    line = next(
        (row for row in labextensions.splitlines() if "jellycell-jupyter" in row),
        labextensions,
    )
    assert re.search(r"jellycell-jupyter v\S+ enabled\s+OK", line), labextensions

    server = run(
        [str(python), "-m", "jupyter_server.extension.serverextension", "list"],
        env=env,
        cwd=work,
    )
    assert re.search(r"jellycell_jupyter\s+enabled", server), server
    assert re.search(r"jellycell_jupyter \S+ OK", server), server
