"""The TypeScript of the JupyterLab extension agrees with the Python models, versions and jest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from jellycell_jupyter import __version__, archive
from jellycell_jupyter.server.checkpoints import CreateBody
from jellycell_jupyter.server.restore import RestoreBody
from jellycell_jupyter.server.running import Operation
from jellycell_jupyter.server.verify import VerifyBody

LABEXTENSION = Path(__file__).parents[1] / "labextension"
TOKENS = LABEXTENSION / "src" / "tokens.ts"
OPENAPI = Path(__file__).parents[1] / "jellycell_jupyter" / "server" / "openapi.json"

INTERFACE = re.compile(r"export interface (I\w+) \{\n(.*?)\n\}", re.DOTALL)
FIELD = re.compile(r"^  (\w+)(\??): (.+);$")

# TypeScript interface -> the Python model whose JSON it describes.
MODELS: dict[str, type[BaseModel]] = {
    "ISkippedPath": archive.SkippedPath,
    "ICheckpointListEntry": archive.CheckpointListEntry,
    "ICheckpointListReport": archive.CheckpointListReport,
    "ICheckpointCreateReport": archive.CheckpointCreateReport,
    "ICheckpointRestoreReport": archive.CheckpointRestoreReport,
    "ICheckpointVerifyReport": archive.CheckpointVerifyReport,
    "ICreateRequest": CreateBody,
    "IRestoreRequest": RestoreBody,
}
# TypeScript interface -> the server's OpenAPI schema of a body that has no pydantic model.
OPENAPI_SCHEMAS = {
    "IProjectInfo": "ProjectRef",
    "IProjectsReply": "ProjectsReport",
    "IVersionReply": "Version",
    "IOperation": "Operation",
    "IOperationsReply": "OperationsReport",
    "IErrorReport": "Error",
}


def interfaces() -> dict[str, dict[str, tuple[bool, str]]]:
    """Every interface of tokens.ts: field name -> (optional, TypeScript type)."""
    found: dict[str, dict[str, tuple[bool, str]]] = {}
    for name, body in INTERFACE.findall(TOKENS.read_text()):
        fields = {}
        for line in body.splitlines():
            match = FIELD.match(line)
            if match:
                fields[match[1]] = (match[2] == "?", match[3])
        found[name] = fields
    return found


ALIAS = re.compile(r"^export type (\w+) = (.+);$", re.MULTILINE)
JSON_KINDS = {"integer": "number", "number": "number", "string": "string", "boolean": "boolean"}
# Where the Python side names a shape differently from tokens.ts.
RENAMED = {"ProjectRef": "ProjectInfo"}


def json_kinds(schema: dict[str, Any]) -> set[str]:
    """What a JSON schema property allows, spelled as :func:`ts_kinds` spells TypeScript."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return {RENAMED.get(name, name)}
    if "anyOf" in schema:
        return set().union(*(json_kinds(option) for option in schema["anyOf"]))
    if "enum" in schema:
        return {f"'{value}'" if value is not None else "null" for value in schema["enum"]}
    kind = schema.get("type", "any")
    return {JSON_KINDS.get(kind, kind)}


def ts_kinds(spelling: str, aliases: dict[str, str]) -> set[str]:
    """What a TypeScript field type allows: ``IProjectInfo | null`` -> {ProjectInfo, null}."""
    kinds: set[str] = set()
    for part in (part.strip() for part in spelling.split("|")):
        if part in aliases:
            kinds |= ts_kinds(aliases[part], aliases)
        elif part.endswith("[]"):
            kinds.add("array")
        elif part.startswith("'"):
            kinds.add(part)
        else:
            kinds.add(part.removeprefix("I") if part[:2].isupper() else part)
    return kinds


def assert_matches(name: str, fields: dict[str, tuple[bool, str]], schema: dict[str, Any]) -> None:
    """Same field names in the same order, and each type allows exactly what the schema does."""
    aliases = dict(ALIAS.findall(TOKENS.read_text()))
    properties = schema["properties"]
    assert list(fields) == list(properties), f"{name}: fields differ from the model"
    for field, (_, spelling) in fields.items():
        expected = json_kinds(properties[field])
        actual = ts_kinds(spelling, aliases)
        assert actual == expected, f"{name}.{field}: {spelling!r} allows {actual}, not {expected}"


@pytest.mark.parametrize("interface", sorted(MODELS))
def test_interfaces_match_the_python_models(interface: str) -> None:
    schema = MODELS[interface].model_json_schema()
    assert_matches(interface, interfaces()[interface], schema)


@pytest.mark.parametrize("interface", sorted(OPENAPI_SCHEMAS))
def test_interfaces_match_the_servers_openapi_description(interface: str) -> None:
    schema = json.loads(OPENAPI.read_text())["components"]["schemas"][OPENAPI_SCHEMAS[interface]]
    assert_matches(interface, interfaces()[interface], schema)


def test_operation_interface_matches_what_the_server_sends() -> None:
    sent = Operation("create", "demo", None).as_json()
    assert list(interfaces()["IOperation"]) == list(sent)


def test_verify_request_is_the_project_only() -> None:
    assert list(VerifyBody.model_json_schema()["properties"]) == ["project"]


def test_frontend_and_package_versions_agree() -> None:
    package = json.loads((LABEXTENSION / "package.json").read_text())
    assert package["version"] == __version__
    declared = re.search(r"EXTENSION_VERSION = '([^']+)'", TOKENS.read_text())
    assert declared is not None
    assert declared[1] == __version__


def test_settings_defaults_agree_with_the_schema() -> None:
    schema = json.loads((LABEXTENSION / "schema" / "plugin.json").read_text())
    defaults = re.search(
        r"DEFAULT_SETTINGS: ISidebarSettings = \{(.*?)\};", TOKENS.read_text(), re.S
    )
    assert defaults is not None
    typed = dict(re.findall(r"(\w+): '?([\w]+)'?", defaults[1]))
    assert typed == {key: str(value["default"]) for key, value in schema["properties"].items()}
    assert list(interfaces()["ISidebarSettings"]) == list(schema["properties"])


def jlpm_run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``jlpm`` in labextension/; fail if it or the JavaScript dependencies are missing."""
    beside = Path(sys.executable).with_name("jlpm")
    jlpm = str(beside) if beside.exists() else shutil.which("jlpm")
    if jlpm is None or not (LABEXTENSION / "node_modules").is_dir():
        pytest.fail(
            "jlpm or labextension/node_modules is missing; install the package from source "
            "(pip install -e .) so that the extension's JavaScript dependencies are installed"
        )
    # The package scripts call jlpm themselves.
    path = os.pathsep.join([str(Path(jlpm).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "CI": "true", "FORCE_COLOR": "0"}
    return subprocess.run(
        [jlpm, *args],
        cwd=LABEXTENSION,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_jest_suite_passes() -> None:
    """The TypeScript unit tests (request and model layers), run by jest as jlpm test."""
    result = jlpm_run("test", "--ci")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = re.search(r"Tests:\s+(?:(\d+) failed, )?(\d+) passed, (\d+) total", output)
    assert summary is not None, output[-3000:]
    assert summary[1] is None
    assert int(summary[2]) == int(summary[3]) >= 20


@pytest.mark.slow
def test_typescript_is_formatted_and_lint_free() -> None:
    """Prettier and ESLint, as ``jlpm lint`` runs them."""
    result = jlpm_run("lint")
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
