"""``/jellycell/api/checkpoints``: list and create a project's checkpoints, get or delete one."""

from __future__ import annotations

import asyncio
import urllib.parse
from http import HTTPStatus

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_escape, url_path_join
from pydantic import Field
from tornado import web

from jellycell_jupyter import archive

from .handler import CheckpointAPIHandler, RequestBody
from .running import Operation


class CreateBody(RequestBody):
    """What to checkpoint, and how to call it."""

    project: str = Field(description="A file or folder inside the project, root-relative.")
    message: str | None = Field(None, description="A note kept with the checkpoint.")
    name: str | None = Field(
        None,
        description="The checkpoint's name, made safe; by default its UTC creation time.",
    )


class CheckpointsHandler(CheckpointAPIHandler):
    """A project's checkpoints."""

    def location_url(self, project: str, name: str) -> str:
        """The URL of one checkpoint of a project, for ``Location``."""
        url = url_path_join(self.base_url, "jellycell/api/checkpoints", url_escape(name))
        return f"{url}?{urllib.parse.urlencode({'project': project})}"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Return the list report of the project holding ``project``, newest first."""
        project = self.project_argument()
        # Reading sidecars (or, without one, the archive's own summary) touches the disk.
        report = await asyncio.to_thread(archive.list_checkpoints, project)
        self.finish_report(report)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Create a checkpoint; answer 201 with the create report and the checkpoint's URL."""
        body = self.read_body(CreateBody)
        if body.name is not None and _names_a_path(body.name):
            raise archive.CheckpointError(
                f"{body.name!r} is not a checkpoint name: it must not contain '/' or '\\' or "
                "be '.' or '..'; use letters, digits, '.', '_' and '-'"
            )
        project = self.find_project(body.project)
        where = self.api_path(project.root)

        operation = Operation("create", where, body.name)
        with self.operations.claim(project.root, operation):
            # Archiving reads and compresses the whole project: keep it off the event loop.
            report = await self.operations.run(
                archive.create,
                project,
                message=body.message,
                name=body.name,
                progress=operation.update,
            )
        self.checkpoint_log.info(
            "created checkpoint %s of project %r: %s files, %s bytes in %.2f s",
            report.name,
            where,
            report.files,
            report.size_bytes,
            operation.seconds,
        )
        self.set_header("Location", self.location_url(where, report.name))
        self.finish_report(report, HTTPStatus.CREATED)


class CheckpointHandler(CheckpointAPIHandler):
    """One checkpoint of a project."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        """Return the checkpoint's entry of the list report."""
        project = self.project_argument()
        archive.archive_path(project, name)
        # Reading sidecars (or, without one, the archive's own summary) touches the disk.
        report = await asyncio.to_thread(archive.list_checkpoints, project)
        wanted = name.removesuffix(".tar.gz")
        for entry in report.checkpoints:
            if entry.name == wanted:
                self.finish_report(entry)
                return
        raise archive.CheckpointError(
            f"no checkpoint named {name!r} in project {project.name!r}; "
            "list the checkpoints to see the names",
            "not_found",
        )

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        """Delete the checkpoint's archive and sidecar; answer 204."""
        project = self.project_argument()
        where = self.api_path(project.root)
        operation = Operation("delete", where, name)
        with self.operations.claim(project.root, operation):
            # Unlinking and syncing the folder can wait on a slow disk.
            report = await self.operations.run(archive.delete, project, name)
        self.checkpoint_log.warning(
            "deleted checkpoint %s of project %r: %s files in %.2f s",
            report.name,
            where,
            len(report.deleted),
            operation.seconds,
        )
        self.set_status(HTTPStatus.NO_CONTENT)
        self.finish()


def _names_a_path(name: str) -> bool:
    return "/" in name or "\\" in name or name in {".", ".."}
