"""The archive download streams in bounded chunks and stops when the client goes away."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from jellycell_jupyter import archive
from jellycell_jupyter.server import download


@pytest.fixture
def large_checkpoint(project: Path) -> Path:
    """A checkpoint of about 24 MB that does not compress."""
    (project / "data" / "noise.bin").write_bytes(os.urandom(24 << 20))
    return Path(archive.create(project, name="large").path)


async def test_the_archive_is_sent_in_bounded_flushed_chunks(
    api: Any, large_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "CHUNK_BYTES", 256 << 10)
    flushed: list[int] = []
    real_flush = download.ArchiveHandler.flush

    def counting_flush(handler: Any, *args: Any, **kwargs: Any) -> Any:
        flushed.append(1)
        return real_flush(handler, *args, **kwargs)

    monkeypatch.setattr(download.ArchiveHandler, "flush", counting_flush)

    reply = await api.get("checkpoints", "large", "archive", project="demo")

    assert reply.code == 200
    assert reply.body == large_checkpoint.read_bytes()
    assert len(flushed) >= large_checkpoint.stat().st_size // (256 << 10)


async def test_a_client_that_goes_away_stops_the_transfer(
    api: Any,
    jp_http_port: int,
    jp_auth_header: dict[str, str],
    large_checkpoint: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ServerApp.jellycell_jupyter")
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    request = (
        f"GET {api.url('checkpoints', 'large', 'archive', params={'project': 'demo'})} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{jp_http_port}\r\n"
        f"Authorization: {jp_auth_header['Authorization']}\r\n\r\n"
    )
    writer.write(request.encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    await reader.readexactly(1 << 20)
    writer.transport.abort()

    stopped = []
    for _ in range(600):
        stopped = [
            r.getMessage() for r in caplog.records if "stopped by the client" in r.getMessage()
        ]
        if stopped:
            break
        await asyncio.sleep(0.05)

    assert len(stopped) == 1, [r.getMessage() for r in caplog.records]
    sent = int(stopped[0].split(" after ", 1)[1].split(" of ", 1)[0])
    assert sent < large_checkpoint.stat().st_size
    assert not [r for r in caplog.records if "downloaded checkpoint" in r.getMessage()]
