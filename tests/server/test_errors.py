"""Archiver failures become the right status codes, and error bodies never name the machine."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.archive import CheckpointError
from jellycell_jupyter.archive.durable import os_error
from jellycell_jupyter.server.errors import in_api_words, status_for
from jellycell_jupyter.server.root import ServerRoot


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("invalid", 400),
        ("forbidden", 403),
        ("not_found", 404),
        ("conflict", 409),
        ("damaged", 422),
        ("environment", 500),
    ],
)
def test_each_kind_has_its_status(kind: Any, status: int) -> None:
    assert status_for(CheckpointError("what went wrong", kind)) == status


def test_a_full_disk_is_507() -> None:
    full = os_error(OSError(errno.ENOSPC, "No space left on device", "/x/y"), Path("/x"))
    denied = os_error(OSError(errno.EACCES, "Permission denied", "/x/y"), Path("/x"))

    assert status_for(full) == 507
    assert status_for(denied) == 500


def test_command_line_options_become_body_fields() -> None:
    message = "x exists; pass --force to merge over it, or --into a new folder (--name too)"

    assert in_api_words(message) == (
        'x exists; pass "force": true to merge over it, or "into" a new folder ("name" too)'
    )


def test_the_root_is_scrubbed_from_messages(tmp_path: Path) -> None:
    root = ServerRoot(str(tmp_path), allow_hidden=False)

    assert root.scrub(f"{tmp_path}/demo/jellycell.toml is bad") == "demo/jellycell.toml is bad"
    assert root.scrub(f"'{tmp_path}' is not a project") == "'.' is not a project"
    assert root.scrub(f"{tmp_path}-sibling stays") == f"{tmp_path}-sibling stays"
    assert root.relative(tmp_path / "a" / "b") == "a/b"
    assert root.relative(tmp_path) == ""
    with pytest.raises(ValueError):
        root.relative(tmp_path.parent)


async def test_a_full_disk_answers_507_with_the_message(
    api: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: Any, **kwargs: Any) -> Any:
        error = OSError(errno.ENOSPC, "No space left on device", str(project / "x"))
        raise os_error(error, project)

    monkeypatch.setattr(archive, "create", full_disk)

    reply = await api.post("checkpoints", body={"project": "demo"})

    assert reply.code == 507
    assert reply.json["error"] == (
        "no space left on the disk holding demo/x; free some space and try again"
    )


async def test_an_unexpected_failure_is_500_without_details(
    api: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"internal detail at {project}")

    monkeypatch.setattr(archive, "list_checkpoints", broken)

    reply = await api.get("checkpoints", project="demo")

    assert reply.code == 500
    assert reply.json == {
        "schema_version": 1,
        "error": "Internal Server Error",
        "message": "Internal Server Error",
    }


async def test_a_busy_restore_target_names_the_body_field(api: Any, project: Path) -> None:
    archive.create(project, name="c1")
    (project.parent / "taken").mkdir()
    (project.parent / "taken" / "file").write_text("x")

    reply = await api.post(
        "checkpoints", "c1", "restore", body={"project": "demo", "into": "taken"}
    )

    assert reply.code == 409
    assert '"force": true' in reply.json["error"]
    assert "--" not in reply.json["error"]
