"""Authentication, authorization, XSRF, and nothing read or written outside the server's root."""

from __future__ import annotations

import os
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import Authorizer
from traitlets.config import Config

from jellycell_jupyter import archive
from jellycell_jupyter.server import ROUTES

EXTENSION = {"jpserver_extensions": {"jellycell_jupyter": True, "jupyter_server_terminals": False}}

# One request per route and verb, against a project "demo" with a checkpoint "c1".
EVERY_REQUEST: list[tuple[str, tuple[str, ...], dict[str, str], Any]] = [
    ("GET", ("version",), {}, None),
    ("GET", ("openapi.json",), {}, None),
    ("GET", ("projects",), {"path": "demo"}, None),
    ("GET", ("operations",), {"project": "demo"}, None),
    ("GET", ("checkpoints",), {"project": "demo"}, None),
    ("POST", ("checkpoints",), {}, {"project": "demo", "name": "c2"}),
    ("GET", ("checkpoints", "c1"), {"project": "demo"}, None),
    ("DELETE", ("checkpoints", "c1"), {"project": "demo"}, None),
    ("POST", ("checkpoints", "c1", "restore"), {}, {"project": "demo"}),
    ("POST", ("checkpoints", "c1", "verify"), {}, {"project": "demo"}),
    ("GET", ("checkpoints", "c1", "archive"), {"project": "demo"}, None),
]


class ReadOnlyAuthorizer(Authorizer):
    """Lets users read but not write, like a viewer role on a shared server."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return action == "read"


@pytest.fixture
def checkpoint(project: Path) -> Path:
    """Checkpoint ``c1`` of the project ``demo``, made by the archiver directly."""
    return Path(archive.create(project, name="c1").path)


def test_every_route_and_verb_is_in_the_list_above() -> None:
    expected = {
        (route, verb.upper())
        for route, handler in ROUTES
        for verb in ("get", "post", "put", "patch", "delete")
        if verb in vars(handler)
    }
    listed = {(_route_of(parts), method) for method, parts, _, _ in EVERY_REQUEST}

    assert listed == expected


def _route_of(parts: tuple[str, ...]) -> str:
    if parts[0] == "checkpoints" and len(parts) > 1:
        return "/".join(["checkpoints", r"(?P<name>[^/]+)", *parts[2:]])
    return parts[0]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "token not-the-token"}])
async def test_requests_without_the_token_are_403_and_change_nothing(
    api: Any, checkpoint: Path, project: Path, tmp_path: Path, tree: Any, headers: dict[str, str]
) -> None:
    before = tree(tmp_path)

    for method, parts, params, body in EVERY_REQUEST:
        reply = await api.request(method, *parts, params=params, body=body, headers=headers)
        assert reply.code == 403, (method, parts, reply.body)
        assert reply.json["schema_version"] == 1

    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    "jp_server_config",
    [Config({"ServerApp": {**EXTENSION, "allow_unauthenticated_access": False}})],
)
async def test_with_unauthenticated_access_disallowed(api: Any, checkpoint: Path) -> None:
    for method, parts, params, _ in EVERY_REQUEST:
        if method != "GET":
            continue
        allowed = await api.request(method, *parts, params=params)
        refused = await api.request(method, *parts, params=params, headers={})
        assert allowed.code == 200, (parts, allowed.body)
        assert refused.code == 403, parts


@pytest.mark.parametrize(
    "jp_server_config",
    [Config({"ServerApp": {**EXTENSION, "authorizer_class": ReadOnlyAuthorizer}})],
)
async def test_a_user_who_may_only_read_contents_cannot_write(
    api: Any, project: Path, tmp_path: Path, tree: Any
) -> None:
    folder = project / ".jellycell" / "checkpoints"
    folder.mkdir(parents=True)
    before = tree(tmp_path)

    for method, parts, params, body in EVERY_REQUEST:
        reply = await api.request(method, *parts, params=params, body=body)
        if method == "GET":
            assert reply.code in {200, 404}, (parts, reply.body)
        else:
            assert reply.code == 403, (method, parts)
            assert "not authorized" in reply.json["error"]

    assert tree(tmp_path) == before


async def _login_cookies(api: Any) -> SimpleCookie:
    reply = await api.get("version")
    cookies: SimpleCookie = SimpleCookie()
    for header in reply.headers.get_list("Set-Cookie"):
        cookies.load(header)
    assert any(name.startswith("username-") for name in cookies), "no login cookie was set"
    return cookies


async def test_cookie_requests_that_change_things_need_the_xsrf_token(
    api: Any, checkpoint: Path, project: Path
) -> None:
    cookies = await _login_cookies(api)
    login = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())

    listed = await api.request(
        "GET", "checkpoints", params={"project": "demo"}, headers={"Cookie": login}
    )
    assert listed.code == 200
    created = await api.request(
        "POST", "checkpoints", body={"project": "demo", "name": "c2"}, headers={"Cookie": login}
    )
    assert created.code == 403
    deleted = await api.request(
        "DELETE", "checkpoints", "c1", params={"project": "demo"}, headers={"Cookie": login}
    )
    assert deleted.code == 403
    assert checkpoint.exists()
    assert not checkpoint.with_name("c2.tar.gz").exists()

    with_xsrf = {"Cookie": f"{login}; _xsrf=5e7f0a11", "X-XSRFToken": "5e7f0a11"}
    created = await api.request(
        "POST", "checkpoints", body={"project": "demo", "name": "c2"}, headers=with_xsrf
    )
    assert created.code == 201
    assert checkpoint.with_name("c2.tar.gz").exists()


@pytest.mark.parametrize("name", ["../../x", "..", "a/b", "../demo", "x\\y"])
async def test_names_that_are_paths_are_400_and_write_nothing(
    api: Any, checkpoint: Path, tmp_path: Path, tree: Any, name: str
) -> None:
    before = tree(tmp_path)

    replies = [
        await api.post("checkpoints", body={"project": "demo", "name": name}),
        await api.get("checkpoints", name, project="demo"),
        await api.post("checkpoints", name, "restore", body={"project": "demo"}),
        await api.post("checkpoints", name, "verify", body={"project": "demo"}),
        await api.get("checkpoints", name, "archive", project="demo"),
        await api.delete("checkpoints", name, project="demo"),
    ]

    assert [reply.code for reply in replies] == [400] * len(replies), [r.body for r in replies]
    assert tree(tmp_path) == before


@pytest.fixture
def elsewhere(tmp_path_factory: pytest.TempPathFactory, write_project: Any) -> Path:
    """A project outside the server's root, beside it."""
    return write_project(tmp_path_factory.mktemp("elsewhere") / "demo")


async def test_projects_outside_the_root_are_403_and_untouched(
    api: Any, project: Path, tmp_path: Path, elsewhere: Path, tree: Any
) -> None:
    outside = os.path.relpath(elsewhere, tmp_path)
    assert outside.startswith("..")
    (tmp_path / "linked").symlink_to(elsewhere)
    before = tree(elsewhere)

    for given in (outside, "../", "linked", "linked/data", "demo/../../"):
        replies = [
            await api.get("checkpoints", project=given),
            await api.post("checkpoints", body={"project": given}),
            await api.get("projects", path=given),
            await api.get("operations", project=given),
        ]
        assert [reply.code for reply in replies] == [403] * 4, (given, [r.body for r in replies])
        assert all(str(tmp_path.parent) not in reply.body.decode() for reply in replies)

    assert tree(elsewhere) == before


async def test_an_absolute_path_of_the_machine_is_not_accepted(api: Any, project: Path) -> None:
    reply = await api.get("checkpoints", project=str(project))

    assert reply.code == 404
    assert str(project) not in reply.body.decode()


async def test_restore_targets_outside_the_root_are_403_and_not_created(
    api: Any, checkpoint: Path, tmp_path: Path, tree: Any
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "link-out").symlink_to(outside)
    before = tree(tmp_path)

    for into in ("../x", f"../{tmp_path.name}-outside/x", "link-out", "link-out/x", "/../x"):
        reply = await api.post(
            "checkpoints", "c1", "restore", body={"project": "demo", "into": into, "force": True}
        )
        assert reply.code == 403, (into, reply.body)
        assert str(tmp_path.parent) not in reply.body.decode()

    assert list(outside.iterdir()) == []
    assert not (tmp_path.parent / "x").exists()
    assert tree(tmp_path) == before


async def test_an_archive_that_links_outside_the_root_is_not_served(
    api: Any, checkpoint: Path, tmp_path: Path
) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-secret.tar.gz"
    secret.write_bytes(b"not yours")
    checkpoint.with_name("evil.tar.gz").symlink_to(secret)

    reply = await api.get("checkpoints", "evil", "archive", project="demo")

    assert reply.code == 403
    assert b"not yours" not in reply.body


async def test_hidden_paths_are_refused_unless_the_server_shows_them(
    api: Any, tmp_path: Path, write_project: Any
) -> None:
    write_project(tmp_path / ".secret" / "demo")
    (tmp_path / "shown").symlink_to(tmp_path / ".secret" / "demo")

    for given in (".secret/demo", "shown", ".secret/demo/../demo/data"):
        reply = await api.get("checkpoints", project=given)
        assert reply.code == 404, given
    write = await api.post("checkpoints", body={"project": ".secret/demo"})
    assert write.code == 404
    assert not (tmp_path / ".secret" / "demo" / ".jellycell" / "checkpoints").exists()


@pytest.mark.parametrize(
    "jp_server_config",
    [Config({"ServerApp": EXTENSION, "ContentsManager": {"allow_hidden": True}})],
)
async def test_hidden_paths_work_when_the_server_shows_them(
    api: Any, tmp_path: Path, write_project: Any
) -> None:
    write_project(tmp_path / ".secret" / "demo")

    reply = await api.post("checkpoints", body={"project": ".secret/demo", "name": "h"})

    assert reply.code == 201
    assert reply.json["path"] == ".secret/demo/.jellycell/checkpoints/h.tar.gz"


async def test_restore_into_a_hidden_folder_is_403(api: Any, checkpoint: Path, tmp_path: Path):
    reply = await api.post(
        "checkpoints", "c1", "restore", body={"project": "demo", "into": ".hidden/out"}
    )

    assert reply.code == 403
    assert "allow_hidden" in reply.json["error"]
    assert not (tmp_path / ".hidden").exists()


async def test_no_answer_names_an_absolute_path(
    api: Any, checkpoint: Path, tmp_path: Path, add_project: Any
) -> None:
    broken = add_project(tmp_path / "broken", "broken")
    (broken / "jellycell.toml").write_text("[project\nname=")
    replies = [
        await api.get("checkpoints", project="demo"),
        await api.get("checkpoints", "c1", project="demo"),
        await api.post("checkpoints", body={"project": "demo", "name": "c2"}),
        await api.post("checkpoints", body={"project": "demo", "name": "c2"}),
        await api.post("checkpoints", "c1", "restore", body={"project": "demo"}),
        await api.post("checkpoints", "c1", "restore", body={"project": "demo"}),
        await api.post("checkpoints", "c1", "restore", body={"project": "demo", "into": "demo"}),
        await api.post("checkpoints", "c1", "verify", body={"project": "demo"}),
        await api.get("projects", path="demo/data"),
        await api.get("checkpoints", project="broken"),
        await api.delete("checkpoints", "c2", project="demo"),
    ]

    codes = [reply.code for reply in replies]
    assert codes == [200, 200, 201, 409, 200, 409, 403, 200, 200, 400, 204]
    assert "broken/jellycell.toml" in replies[-2].json["error"]
    for reply in replies:
        assert str(tmp_path) not in reply.body.decode()
        assert urllib.parse.quote(str(tmp_path)) not in reply.body.decode()
