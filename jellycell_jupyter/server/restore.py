"""``/jellycell/api/checkpoints/NAME/restore``: unpack a checkpoint into a folder in the root."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from pydantic import Field
from tornado import web

from jellycell_jupyter import archive

from .handler import CheckpointAPIHandler, RequestBody
from .running import Operation


class RestoreBody(RequestBody):
    """Which project's checkpoint to restore, and where."""

    project: str = Field(description="A file or folder inside the project, root-relative.")
    into: str | None = Field(
        None,
        description="The folder to restore into, root-relative; by default "
        "<project folder>-restored-<name> beside the project.",
    )
    force: bool = Field(False, description="Merge into a folder that exists and is not empty.")


class RestoreHandler(CheckpointAPIHandler):
    """Restoring one checkpoint."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        """Restore the checkpoint, by default into ``<project>-restored-<name>`` beside it.

        ``into`` picks another folder inside the root; a folder that exists and
        is not empty is refused (409) unless ``force`` merges over it.
        """
        body = self.read_body(RestoreBody)
        project = self.find_project(body.project)
        archive.archive_path(project, name)
        target = self._target(project, name, body.into)
        where = self.api_path(project.root)

        operation = Operation("restore", where, name)
        with self.operations.claim(project.root, operation):
            # Unpacking writes every file of the checkpoint: keep it off the event loop.
            report = await self.operations.run(
                archive.restore,
                project,
                name,
                into=target,
                force=body.force,
                progress=operation.update,
            )
        progress = operation.progress
        self.checkpoint_log.info(
            "restored checkpoint %s of project %r into %r: %s files, %s bytes in %.2f s",
            name,
            where,
            self.api_path(report.target),
            report.files,
            progress.bytes_done if progress else 0,
            operation.seconds,
        )
        self.finish_report(report)

    def _target(self, project: archive.Project, name: str, into: str | None) -> str:
        if into is not None:
            target = self.root.resolve(into, what="restore folder", writing=True)
            if target == self.root.path:
                raise archive.CheckpointError(
                    'cannot restore into the server\'s root folder itself; give "into" with '
                    "a new folder inside it",
                    "forbidden",
                )
            return str(target)

        target = archive.default_restore_target(project, name)
        if not self.root.contains(target):
            raise archive.CheckpointError(
                f"the default restore folder, {target.name!r} beside the project, would lie "
                'outside the server\'s root folder; give "into" with a folder inside the root',
                "conflict",
            )
        return str(target.resolve())
