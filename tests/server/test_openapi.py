"""The shipped OpenAPI description matches the routes and models, and the live server honours it."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_openapi import model_schemas

from jellycell_jupyter.server import ROUTES
from jellycell_jupyter.server.version import openapi_description

SPEC = openapi_description()
# Deletions last, so the other operations meet existing checkpoints too.
OPERATIONS = sorted(
    (
        (path, method)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ),
    key=lambda operation: operation[1] == "delete",
)
KNOWN_PATHS = ["demo", "demo/data", "demo/notebooks/analysis.py", "", "mono", "mono/a", "nope"]
KNOWN_PATHS += ["../", "demo/../..", ".hidden", "/", "mono/b/../a"]
KNOWN: dict[str, list[Any]] = {
    "project": KNOWN_PATHS,
    "path": KNOWN_PATHS,
    "name": ["c1", "c2", "c1.tar.gz", "..", ".", "../../x", "missing", "a b"],
    "into": [None, "restored/one", "restored/two", "demo/data", "../x", ".hidden/x", "", "mono"],
    "message": [None, "before refactor", "", "ünïcode ✓"],
    "force": [True, False],
}


def test_the_description_lists_exactly_the_routes() -> None:
    described = {path.strip("/").replace("{name}", r"(?P<name>[^/]+)") for path in SPEC["paths"]}

    assert described == {route for route, _ in ROUTES}
    for route, handler in ROUTES:
        path = "/" + route.replace(r"(?P<name>[^/]+)", "{name}")
        verbs = {
            verb for verb in ("get", "post", "put", "patch", "delete") if verb in vars(handler)
        }
        assert verbs == set(SPEC["paths"][path]) - {"parameters"}, path


def test_the_described_schemas_are_the_models() -> None:
    described = SPEC["components"]["schemas"]

    for name, schema in model_schemas().items():
        assert described.get(name) == schema, (
            f"{name} in openapi.json differs from its model; run tests/server/sync_openapi.py"
        )


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of the small JSON Schema subset the request bodies use."""
    if "anyOf" in schema:
        return st.one_of(*(from_schema(option) for option in schema["anyOf"]))
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", []))
        properties = schema["properties"]
        return st.fixed_dictionaries(
            {key: from_schema(value) for key, value in properties.items() if key in required},
            optional={
                key: from_schema(value) for key, value in properties.items() if key not in required
            },
        )
    simple = {"string": st.text(max_size=30), "boolean": st.booleans(), "null": st.none()}
    return simple[kind]


def _parameters(path: str, method: str) -> list[dict[str, Any]]:
    item = SPEC["paths"][path]
    found = []
    for parameter in item.get("parameters", []) + item[method].get("parameters", []):
        if "$ref" in parameter:
            parameter = SPEC["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        found.append(parameter)
    return found


def _schema(reference: dict[str, Any]) -> dict[str, Any]:
    return {"components": SPEC["components"], **reference}


def _response(operation: dict[str, Any], status: int) -> dict[str, Any]:
    response = operation["responses"][str(status)]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def _draw_value(data: Any, name: str, schema: dict[str, Any]) -> Any:
    known = st.sampled_from(KNOWN[name])
    return data.draw(st.one_of(known, known, known, from_schema(schema)))


def _draw_body(data: Any, schema: dict[str, Any]) -> bytes:
    if data.draw(st.integers(0, 5)) == 0:
        junk = st.one_of(st.binary(max_size=40), st.dictionaries(st.text(max_size=8), st.text()))
        document = data.draw(junk)
        return document if isinstance(document, bytes) else json.dumps(document).encode()

    document = {}
    for key, value_schema in schema["properties"].items():
        required = key in schema.get("required", [])
        if data.draw(st.integers(0, 9)) < (9 if required else 5):
            document[key] = _draw_value(data, key, value_schema)
    return json.dumps(document).encode()


def _draw_request(data: Any, path: str, method: str) -> tuple[str, bytes | None]:
    url_path = path
    query = {}
    for parameter in _parameters(path, method):
        value = _draw_value(data, parameter["name"], {"type": "string"})
        if parameter["in"] == "path" and not value:
            value = "x"  # an empty segment would be another route
        if parameter["in"] == "path":
            url_path = url_path.replace("{name}", urllib.parse.quote(value, safe=""))
        elif data.draw(st.integers(0, 9)) < (9 if parameter.get("required") else 5):
            query[parameter["name"]] = value

    body = None
    request_body = SPEC["paths"][path][method].get("requestBody")
    if request_body:
        reference = request_body["content"]["application/json"]["schema"]["$ref"]
        body = _draw_body(data, SPEC["components"]["schemas"][reference.rsplit("/", 1)[1]])
    url = "jellycell/api" + url_path
    return (url + "?" + urllib.parse.urlencode(query) if query else url), body


@pytest.mark.slow
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_requests_get_documented_answers_and_no_5xx(
    live_server: Any, path: str, method: str, data: Any
) -> None:
    url, body = _draw_request(data, path, method)
    if method == "post" and body is None:
        body = b""

    status, headers, reply = live_server.fetch(method.upper(), url, body=body)

    assert status < 500, (method, url, body, reply)
    operation = SPEC["paths"][path][method]
    assert str(status) in operation["responses"], (method, url, body, status, reply)
    content = _response(operation, status).get("content", {})
    if "application/json" in content:
        schema = _schema(content["application/json"]["schema"])
        jsonschema.validate(json.loads(reply), schema)
    if status == 201:
        assert headers["Location"]
