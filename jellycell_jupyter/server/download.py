"""``/jellycell/api/checkpoints/NAME/archive``: download a checkpoint's ``.tar.gz``, streamed."""

from __future__ import annotations

import asyncio
import os
import re
import time
import unicodedata
import urllib.parse
from typing import BinaryIO

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from jellycell_jupyter import archive

from .handler import CheckpointAPIHandler

CHUNK_BYTES = 1 << 20
_NOT_IN_TOKEN = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL_OR_SEPARATOR = re.compile(r"[\x00-\x1f\x7f/\\]+")


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact name as RFC 5987 ``filename*``."""
    exact = _CONTROL_OR_SEPARATOR.sub("-", filename)
    ascii_name = unicodedata.normalize("NFKD", exact).encode("ascii", "ignore").decode("ascii")
    fallback = _NOT_IN_TOKEN.sub("_", ascii_name).strip("_") or "checkpoint.tar.gz"
    encoded = urllib.parse.quote(exact, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


class ArchiveHandler(CheckpointAPIHandler):
    """The archive file of one checkpoint."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        """Stream the archive in 1 MiB chunks, so memory stays flat for any size.

        The download is named ``<project name>-<checkpoint>.tar.gz``; a client
        that goes away stops the transfer.
        """
        project = self.project_argument()
        path = archive.archive_path(project, name)
        if not self.root.contains(path):
            raise archive.CheckpointError(
                f"the archive of checkpoint {name!r} is a link that leads outside the server's "
                "root folder; it is not served",
                "forbidden",
            )
        checkpoint = path.name.removesuffix(".tar.gz")
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below
        except FileNotFoundError:
            raise archive.CheckpointError(
                f"checkpoint {checkpoint!r} was deleted just now", "not_found"
            ) from None

        try:
            size = os.fstat(handle.fileno()).st_size
            self.set_header("Content-Type", "application/gzip")
            self.set_header("Content-Length", str(size))
            self.set_header(
                "Content-Disposition", content_disposition(f"{project.name}-{checkpoint}.tar.gz")
            )
            self.set_header("Cache-Control", "no-store")
            await self._stream(handle, size, checkpoint, self.api_path(project.root))
        finally:
            handle.close()

    async def _stream(self, handle: BinaryIO, size: int, checkpoint: str, where: str) -> None:
        started = time.monotonic()
        sent = 0
        try:
            while sent < size:
                # A cold disk can take a while to hand over a megabyte; read in a thread.
                chunk = await asyncio.to_thread(handle.read, min(CHUNK_BYTES, size - sent))
                if not chunk:
                    break
                self.write(chunk)
                await self.flush()
                sent += len(chunk)
        except StreamClosedError:
            self.checkpoint_log.info(
                "download of checkpoint %s of project %r stopped by the client after %s of "
                "%s bytes in %.2f s",
                checkpoint,
                where,
                sent,
                size,
                time.monotonic() - started,
            )
            return
        self.checkpoint_log.info(
            "downloaded checkpoint %s of project %r: %s bytes in %.2f s",
            checkpoint,
            where,
            sent,
            time.monotonic() - started,
        )
        self.finish(set_content_type="application/gzip")
