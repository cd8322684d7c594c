"""``/jellycell/api/checkpoints/NAME/verify``: check an archive end to end without unpacking it."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from pydantic import Field
from tornado import web

from jellycell_jupyter import archive

from .handler import CheckpointAPIHandler, RequestBody
from .running import Operation


class VerifyBody(RequestBody):
    """Which project's checkpoint to verify."""

    project: str = Field(description="A file or folder inside the project, root-relative.")


class VerifyHandler(CheckpointAPIHandler):
    """Verifying one checkpoint."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        """Return the verify report; a damaged archive is a report with ``ok`` false."""
        body = self.read_body(VerifyBody)
        project = self.find_project(body.project)
        archive.archive_path(project, name)
        where = self.api_path(project.root)

        operation = Operation("verify", where, name)
        with self.operations.claim(project.root, operation):
            # Verifying decompresses and hashes the whole archive: keep it off the event loop.
            report = await self.operations.run(
                archive.verify, project, name, progress=operation.update
            )
        progress = operation.progress
        self.checkpoint_log.info(
            "verified checkpoint %s of project %r (%s): %s files, %s bytes in %.2f s",
            name,
            where,
            "ok" if report.ok else "damaged",
            report.files,
            progress.bytes_done if progress else 0,
            operation.seconds,
        )
        self.finish_report(report)
