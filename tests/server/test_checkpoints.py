"""Every route's success and its errors, against the real archiver."""

from __future__ import annotations

import json
import tarfile
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import jellycell_jupyter
from jellycell_jupyter.server.download import content_disposition


async def create(api: Any, project: str = "demo", **fields: str) -> dict[str, object]:
    reply = await api.post("checkpoints", body={"project": project, **fields})
    assert reply.code == 201, reply.body
    body: dict[str, object] = reply.json
    return body


async def test_version_answers_the_package_version(api: Any) -> None:
    reply = await api.get("version")

    assert reply.code == 200
    assert reply.json == {
        "schema_version": 1,
        "version": jellycell_jupyter.__version__,
        "api_version": 1,
    }


async def test_projects_finds_the_project_holding_a_file(api: Any, project: Path) -> None:
    reply = await api.get("projects", path="demo/notebooks/analysis.py")

    assert reply.code == 200
    assert reply.json == {
        "schema_version": 1,
        "path": "demo/notebooks/analysis.py",
        "project": {
            "name": "demo",
            "path": "demo",
            "checkpoints_path": "demo/.jellycell/checkpoints",
        },
        "projects": [],
    }


async def test_projects_lists_the_members_of_a_monorepo(
    api: Any, tmp_path: Path, add_project: Any
) -> None:
    add_project(tmp_path / "mono" / "b", "bee")
    add_project(tmp_path / "mono" / "a", "ay")
    add_project(tmp_path / "mono" / ".hidden", "hidden")
    (tmp_path / "mono" / "not-a-project").mkdir()

    reply = await api.get("projects", path="mono")

    assert reply.code == 200
    assert reply.json["project"] is None
    assert [(p["name"], p["path"]) for p in reply.json["projects"]] == [
        ("ay", "mono/a"),
        ("bee", "mono/b"),
    ]


async def test_projects_at_the_root_by_default(api: Any, project: Path) -> None:
    reply = await api.get("projects")

    assert reply.code == 200
    assert reply.json["path"] == ""
    assert [p["path"] for p in reply.json["projects"]] == ["demo"]


async def test_projects_of_a_missing_path_is_404(api: Any) -> None:
    reply = await api.get("projects", path="no/such/folder")

    assert reply.code == 404
    assert reply.json["error"] == reply.json["message"]
    assert "no/such/folder" in reply.json["error"]


async def test_list_is_empty_then_holds_new_checkpoints_newest_first(
    api: Any, project: Path
) -> None:
    empty = await api.get("checkpoints", project="demo")
    assert empty.code == 200
    assert empty.json["checkpoints"] == []

    await create(api, name="first")
    await create(api, name="second", message="after")
    reply = await api.get("checkpoints", project="demo/data")

    assert reply.code == 200
    assert reply.json["project"] == "demo"
    entries = reply.json["checkpoints"]
    assert {entry["name"] for entry in entries} == {"first", "second"}
    assert entries[0]["path"].startswith("demo/.jellycell/checkpoints/")


async def test_list_without_project_is_400(api: Any) -> None:
    reply = await api.get("checkpoints")

    assert reply.code == 400
    assert "project" in reply.json["error"]


async def test_list_of_a_folder_outside_any_project_is_404(api: Any, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()

    reply = await api.get("checkpoints", project="plain")

    assert reply.code == 404
    assert "not inside a jellycell project" in reply.json["error"]


async def test_a_jellycell_toml_above_the_root_is_not_used(api: Any, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    above = tmp_path.parent / "jellycell.toml"
    assert not above.exists()
    above.write_text('[project]\nname = "above"\n')
    try:
        reply = await api.get("checkpoints", project="plain")
    finally:
        above.unlink()

    assert reply.code == 404


async def test_create_answers_201_with_location_and_writes_the_archive(
    api: Any, project: Path
) -> None:
    reply = await api.post(
        "checkpoints", body={"project": "demo", "message": "before refactor", "name": "v1 draft"}
    )

    assert reply.code == 201
    report = reply.json
    assert report["schema_version"] == 1
    assert report["project"] == "demo"
    assert report["name"] == "v1-draft"
    assert report["path"] == "demo/.jellycell/checkpoints/v1-draft.tar.gz"
    assert report["message"] == "before refactor"
    archive_file = project.parent / report["path"]
    assert archive_file.stat().st_size == report["size_bytes"]
    assert archive_file.with_name("v1-draft.json").is_file()
    with tarfile.open(archive_file) as tar:
        assert "data/table.csv" in tar.getnames()

    location = urllib.parse.urlsplit(reply.headers["Location"])
    assert location.path == api.url("checkpoints", "v1-draft")
    assert urllib.parse.parse_qs(location.query) == {"project": ["demo"]}
    entry = await api.get("checkpoints", "v1-draft", project="demo")
    assert entry.code == 200
    assert entry.json["name"] == "v1-draft"
    assert entry.json["message"] == "before refactor"


async def test_create_with_an_existing_name_is_409_and_keeps_the_first(
    api: Any, project: Path
) -> None:
    first = await create(api, name="same")
    before = (project / ".jellycell" / "checkpoints" / "same.tar.gz").read_bytes()

    reply = await api.post("checkpoints", body={"project": "demo", "name": "same"})

    assert reply.code == 409
    assert "exists" in reply.json["error"]
    assert (project / ".jellycell" / "checkpoints" / "same.tar.gz").read_bytes() == before
    assert first["size_bytes"] == len(before)


async def test_create_bodies_that_are_wrong_are_400(api: Any, project: Path, tree: Any) -> None:
    before = tree(project)
    bad_bodies = [
        b"",
        b"not json",
        b"[1, 2]",
        b'"demo"',
        json.dumps({"message": "no project"}).encode(),
        json.dumps({"project": 7}).encode(),
        json.dumps({"project": "demo", "message": 5}).encode(),
        json.dumps({"project": "demo", "nmae": "typo"}).encode(),
    ]
    for raw in bad_bodies:
        reply = await api.request("POST", "checkpoints", raw_body=raw)
        assert reply.code == 400, raw
        assert reply.json["schema_version"] == 1
        assert reply.json["error"]

    assert tree(project) == before


async def test_create_of_a_missing_project_is_404(api: Any) -> None:
    reply = await api.post("checkpoints", body={"project": "nowhere"})

    assert reply.code == 404


async def test_get_one_checkpoint_errors(api: Any, project: Path) -> None:
    await create(api, name="kept")

    assert (await api.get("checkpoints", "kept.tar.gz", project="demo")).code == 200
    assert (await api.get("checkpoints", "missing", project="demo")).code == 404
    assert (await api.get("checkpoints", "a b", project="demo")).code == 400
    assert (await api.get("checkpoints", "kept")).code == 400


async def test_delete_removes_archive_and_sidecar_then_404(api: Any, project: Path) -> None:
    await create(api, name="gone")
    folder = project / ".jellycell" / "checkpoints"

    reply = await api.delete("checkpoints", "gone", project="demo")

    assert reply.code == 204
    assert reply.body == b""
    assert not (folder / "gone.tar.gz").exists()
    assert not (folder / "gone.json").exists()
    again = await api.delete("checkpoints", "gone", project="demo")
    assert again.code == 404


async def test_restore_into_the_default_sibling_then_409_then_force_merges(
    api: Any, project: Path
) -> None:
    await create(api, name="base")
    (project / "data" / "table.csv").write_text("changed\n")

    reply = await api.post("checkpoints", "base", "restore", body={"project": "demo"})

    assert reply.code == 200
    report = reply.json
    assert report["project"] == "demo"
    assert report["source"] == "demo/.jellycell/checkpoints/base.tar.gz"
    assert report["target"] == "demo-restored-base"
    restored = project.parent / "demo-restored-base"
    assert (restored / "data" / "table.csv").read_text() == "a,b\n1,2\n" * 100
    assert (project / "data" / "table.csv").read_text() == "changed\n"

    again = await api.post("checkpoints", "base", "restore", body={"project": "demo"})
    assert again.code == 409
    assert "not empty" in again.json["error"]

    (restored / "mine.txt").write_text("kept")
    forced = await api.post(
        "checkpoints", "base", "restore", body={"project": "demo", "force": True}
    )
    assert forced.code == 200
    assert forced.json["merged"] is True
    assert (restored / "mine.txt").read_text() == "kept"


async def test_restore_into_a_chosen_folder(api: Any, project: Path, tmp_path: Path) -> None:
    await create(api, name="base")

    reply = await api.post(
        "checkpoints", "base", "restore", body={"project": "demo", "into": "review/base"}
    )

    assert reply.code == 200
    assert reply.json["target"] == "review/base"
    assert (tmp_path / "review" / "base" / "manuscripts" / "paper.md").read_text() == "# Results\n"


async def test_restore_of_a_project_at_the_root_needs_into(
    api: Any, tmp_path: Path, add_project: Any
) -> None:
    add_project(tmp_path, "rooted")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "x.py").write_text("x = 1\n")
    await create(api, project="", name="top")
    outside = tmp_path.parent / f"{tmp_path.name}-restored-top"

    reply = await api.post("checkpoints", "top", "restore", body={"project": ""})

    assert reply.code == 409
    assert '"into"' in reply.json["error"]
    assert not outside.exists()
    chosen = await api.post(
        "checkpoints", "top", "restore", body={"project": "", "into": "restored-top"}
    )
    assert chosen.code == 200
    assert (tmp_path / "restored-top" / "notebooks" / "x.py").read_text() == "x = 1\n"


async def test_restore_errors(api: Any, project: Path) -> None:
    await create(api, name="base")

    missing = await api.post("checkpoints", "nope", "restore", body={"project": "demo"})
    assert missing.code == 404
    live = await api.post(
        "checkpoints", "base", "restore", body={"project": "demo", "into": "demo/data"}
    )
    assert live.code == 403
    force_text = await api.post(
        "checkpoints", "base", "restore", body={"project": "demo", "force": "yes"}
    )
    assert force_text.code == 400
    root_itself = await api.post(
        "checkpoints", "base", "restore", body={"project": "demo", "into": ""}
    )
    assert root_itself.code == 403


async def test_restore_of_a_damaged_archive_is_422_and_writes_nothing(
    api: Any, project: Path, tmp_path: Path
) -> None:
    await create(api, name="base")
    archive_file = project / ".jellycell" / "checkpoints" / "base.tar.gz"
    data = bytearray(archive_file.read_bytes())
    for offset in range(40, len(data) - 40, 7):
        data[offset] ^= 0xFF
    archive_file.write_bytes(bytes(data))

    reply = await api.post(
        "checkpoints", "base", "restore", body={"project": "demo", "into": "out"}
    )

    assert reply.code == 422, reply.body
    assert not (tmp_path / "out").exists()
    verified = await api.post("checkpoints", "base", "verify", body={"project": "demo"})
    assert verified.code == 200
    assert verified.json["ok"] is False
    assert verified.json["problems"]


async def test_verify_reports_a_sound_archive(api: Any, project: Path) -> None:
    created = await create(api, name="sound")

    reply = await api.post("checkpoints", "sound", "verify", body={"project": "demo"})

    assert reply.code == 200
    assert reply.json["ok"] is True
    assert reply.json["files"] == created["files"]
    assert reply.json["path"] == "demo/.jellycell/checkpoints/sound.tar.gz"
    assert (await api.post("checkpoints", "x", "verify", body={"project": "demo"})).code == 404


async def test_archive_download_is_the_file_with_its_name(api: Any, project: Path) -> None:
    await create(api, name="ship")

    reply = await api.get("checkpoints", "ship", "archive", project="demo")

    assert reply.code == 200
    assert reply.body == (project / ".jellycell" / "checkpoints" / "ship.tar.gz").read_bytes()
    assert reply.headers["Content-Type"] == "application/gzip"
    assert reply.headers["Content-Length"] == str(len(reply.body))
    assert reply.headers["Content-Disposition"] == (
        "attachment; filename=\"demo-ship.tar.gz\"; filename*=UTF-8''demo-ship.tar.gz"
    )
    assert (await api.get("checkpoints", "nope", "archive", project="demo")).code == 404


async def test_archive_download_names_a_non_ascii_project(
    api: Any, tmp_path: Path, add_project: Any
) -> None:
    add_project(tmp_path / "etudes", "Études “données” 数据")
    await create(api, project="etudes", name="v1")

    reply = await api.get("checkpoints", "v1", "archive", project="etudes")

    assert reply.code == 200
    disposition = reply.headers["Content-Disposition"]
    assert 'filename="Etudes_donnees_-v1.tar.gz"' in disposition
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == "Études “données” 数据-v1.tar.gz"


def test_content_disposition_keeps_separators_and_quotes_out() -> None:
    header = content_disposition('a/b\\c"d\r\n.tar.gz')

    assert header.startswith('attachment; filename="a-b-c_d-.tar.gz"; ')
    assert "\r" not in header and "\n" not in header
    assert urllib.parse.unquote(header.split("''", 1)[1]) == 'a-b-c"d-.tar.gz'


async def test_operations_is_null_when_idle(api: Any, project: Path) -> None:
    reply = await api.get("operations", project="demo/notebooks")

    assert reply.code == 200
    assert reply.json == {"schema_version": 1, "project": "demo", "operation": None}
    assert (await api.get("operations", project="nowhere")).code == 404


async def test_openapi_description_is_served_under_the_base_url(api: Any) -> None:
    reply = await api.get("openapi.json")

    assert reply.code == 200
    assert reply.json["openapi"].startswith("3.")
    assert reply.json["servers"] == [{"url": api.url()}]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
async def test_an_unknown_route_is_a_json_404(api: Any, method: str) -> None:
    headers = {**api.auth, "X-XSRFToken": "x", "Cookie": "_xsrf=x"}
    reply = await api.request(method, "checkpoint", "x", body={}, headers=headers)

    assert reply.code == 404
    assert reply.headers["Content-Type"].startswith("application/json")
    assert "no route 'checkpoint/x'" in reply.json["error"]
    assert "openapi.json" in reply.json["message"]


async def test_an_unknown_route_needs_the_token_first(api: Any) -> None:
    reply = await api.request("GET", "nothing-here", headers={})

    assert reply.code == 403
