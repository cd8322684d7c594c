"""One operation per project, progress while it runs, and a server that keeps answering."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jellycell_jupyter import archive


@dataclass
class Gate:
    """Holds the first ``archive.create`` at its first progress report until released."""

    real_create: Any
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    async def wait_started(self) -> None:
        """Wait, off the event loop, until the held create reports progress."""
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, self.started.wait, 60), "create never started"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate(archive.create)

    def create(project: Any, *, progress: Any = None, **kwargs: Any) -> Any:
        held.calls += 1
        first = held.calls == 1

        def report(step: archive.Progress) -> None:
            if progress is not None:
                progress(step)
            if first:
                held.started.set()
                assert held.release.wait(120), "the test never released the create"

        return held.real_create(project, progress=report, **kwargs)

    monkeypatch.setattr(archive, "create", create)
    yield held
    held.release.set()


async def test_a_second_operation_on_a_busy_project_is_409(
    api: Any, project: Path, gate: Gate, add_project: Any, tmp_path: Path
) -> None:
    gate.real_create(project, name="c1")
    add_project(tmp_path / "other", "other")
    pending = asyncio.ensure_future(
        api.post("checkpoints", body={"project": "demo", "name": "slow"})
    )
    await gate.wait_started()

    running = await api.get("operations", project="demo")
    assert running.code == 200
    operation = running.json["operation"]
    assert (operation["kind"], operation["name"]) == ("create", "slow")
    assert operation["phase"] is not None
    assert 0.0 <= operation["fraction"] <= 1.0

    refused = [
        await api.post("checkpoints", body={"project": "demo/data", "name": "again"}),
        await api.post("checkpoints", "c1", "restore", body={"project": "demo"}),
        await api.post("checkpoints", "c1", "verify", body={"project": "demo"}),
        await api.delete("checkpoints", "c1", project="demo"),
    ]
    assert [reply.code for reply in refused] == [409] * 4
    assert "already running" in refused[0].json["error"]
    assert "slow" in refused[0].json["error"]
    assert (await api.get("checkpoints", project="demo")).code == 200
    assert (await api.get("operations", project="other")).json["operation"] is None

    gate.release.set()
    created = await pending

    assert created.code == 201
    assert created.json["name"] == "slow"
    assert (await api.get("operations", project="demo")).json["operation"] is None
    folder = project / ".jellycell" / "checkpoints"
    assert sorted(path.name for path in folder.glob("*.tar.gz")) == ["c1.tar.gz", "slow.tar.gz"]
    assert not (project.parent / "demo-restored-c1").exists()


@pytest.mark.slow
async def test_the_server_answers_while_a_large_checkpoint_is_made(
    api: Any, jp_fetch: Any, project: Path, gate: Gate
) -> None:
    big = project / "data" / "big"
    big.mkdir()
    for part in range(6):
        (big / f"part{part}.bin").write_bytes(os.urandom(50 << 20))
    pending = asyncio.ensure_future(api.post("checkpoints", body={"project": "demo"}))
    await gate.wait_started()

    status = await jp_fetch("api", "status")
    assert status.code == 200
    progress = (await api.get("operations", project="demo")).json["operation"]
    assert progress["kind"] == "create"

    gate.release.set()
    created = await pending
    assert created.code == 201
    assert created.json["files"] >= 6
    assert created.json["size_bytes"] > 300 << 20
    shutil.rmtree(big)  # pytest keeps recent temporary folders; don't keep 600 MB in them
    (project.parent / created.json["path"]).unlink()


async def test_each_operation_logs_one_line(
    api: Any, project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ServerApp.jellycell_jupyter")

    created = (await api.post("checkpoints", body={"project": "demo", "name": "logged"})).json
    await api.post("checkpoints", "logged", "restore", body={"project": "demo"})
    await api.post("checkpoints", "logged", "verify", body={"project": "demo"})
    await api.delete("checkpoints", "logged", project="demo")

    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "ServerApp.jellycell_jupyter"
    ]
    assert len(lines) == 4, lines
    assert lines[0] == (
        f"created checkpoint logged of project 'demo': {created['files']} files, "
        f"{created['size_bytes']} bytes in " + lines[0].rsplit(" in ", 1)[1]
    )
    assert lines[1].startswith("restored checkpoint logged of project 'demo' into ")
    assert lines[2].startswith("verified checkpoint logged of project 'demo' (ok): ")
    assert lines[3].startswith("deleted checkpoint logged of project 'demo'")
    assert all(line.endswith(" s") for line in lines)
    assert all(str(project) not in line for line in lines)
