"""The binder recipe agrees with pyproject.toml, and the tour notebook is committed clean."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
BINDER = REPO / "binder"


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def binder_conda_dependencies() -> list[str]:
    environment = yaml.safe_load((BINDER / "environment.yml").read_text())
    return [dep for dep in environment["dependencies"] if isinstance(dep, str)]


def binder_pip_requirements() -> dict[str, Requirement]:
    environment = yaml.safe_load((BINDER / "environment.yml").read_text())
    pip_sections = [dep["pip"] for dep in environment["dependencies"] if isinstance(dep, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    requirements = [Requirement(line) for line in pip_sections[0]]
    return {canonicalize_name(req.name): req for req in requirements}


def compatible(binder: Requirement, package: Requirement) -> bool:
    """The binder spec allows only versions the package allows: the same spec, or a pin in it."""
    if binder.specifier == package.specifier:
        return True
    pins = [spec for spec in binder.specifier if spec.operator == "=="]
    return len(pins) == 1 and package.specifier.contains(pins[0].version, prereleases=True)


def test_every_runtime_dependency_is_in_the_binder_environment() -> None:
    binder = binder_pip_requirements()
    dependencies = [Requirement(line) for line in pyproject()["project"]["dependencies"]]

    assert dependencies
    for dependency in dependencies:
        name = canonicalize_name(dependency.name)
        assert name in binder, f"{dependency} is missing from binder/environment.yml"
        assert compatible(binder[name], dependency), (
            f"binder pins {binder[name]}, pyproject.toml says {dependency}"
        )


def test_binder_pins_match_the_test_extra() -> None:
    binder = binder_pip_requirements()
    test_extra = {
        canonicalize_name(req.name): req
        for req in map(Requirement, pyproject()["project"]["optional-dependencies"]["test"])
    }

    assert str(test_extra["jellycell"].specifier) == "==1.4.0"
    assert str(binder["jellycell"].specifier) == str(test_extra["jellycell"].specifier)
    for name in ("ipykernel", "jupyterlab"):
        assert name in binder, f"the demo needs {name} in binder/environment.yml"
        assert compatible(binder[name], test_extra[name]), (
            f"binder pins {binder[name]}, the test extra says {test_extra[name]}"
        )


def test_binder_python_and_node_fit_the_package() -> None:
    conda = binder_conda_dependencies()
    python = next(dep for dep in conda if re.fullmatch(r"python\s*=.*", dep))
    node = next(dep for dep in conda if re.fullmatch(r"nodejs\s*=.*", dep))
    requires_python = pyproject()["project"]["requires-python"]

    # conda's "python=3.11" means the newest 3.11.x, so its last patch release must fit.
    assert Version(python.split("=")[-1] + ".99") in Requirement(f"x{requires_python}").specifier
    assert int(node.split("=")[-1].split(".")[0]) >= 20


def test_binder_scripts_are_executable_bash() -> None:
    for script in ("postBuild", "start"):
        path = BINDER / script
        assert os.access(path, os.X_OK), f"binder/{script} must be executable"
        assert path.read_text().startswith("#!/usr/bin/env bash\n")

    assert 'exec "$@"' in (BINDER / "start").read_text()


def test_binder_opens_the_tour_that_post_build_makes() -> None:
    config = json.loads((BINDER / "jupyter-config" / "jupyter_server_config.json").read_text())
    url = config["LabApp"]["default_url"]
    into = re.search(r"make_demo\.py --into (\S+)", (BINDER / "postBuild").read_text())

    assert into is not None
    assert url == f"/lab/tree/{into.group(1)}/tour.ipynb"
    assert f"JUPYTERHUB_DEFAULT_URL:-{url}" in (BINDER / "start").read_text()


def test_tour_notebook_is_committed_without_outputs() -> None:
    tour = nbformat.read(BINDER / "tour.ipynb", as_version=4)
    nbformat.validate(tour)
    code = [cell for cell in tour.cells if cell.cell_type == "code"]

    assert code
    for cell in code:
        assert cell.outputs == [], f"cell {cell.id} has outputs"
        assert cell.execution_count is None, f"cell {cell.id} has an execution count"
    assert tour.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize(
    "line",
    ["%load_ext jellycell_jupyter", '%checkpoint -m "before refactor"', "%checkpoint list"],
)
def test_tour_notebook_shows_the_magic(line: str) -> None:
    tour = nbformat.read(BINDER / "tour.ipynb", as_version=4)
    sources = [cell.source for cell in tour.cells if cell.cell_type == "code"]

    assert any(line in source.splitlines() for source in sources)
