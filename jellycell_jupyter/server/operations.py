"""``/jellycell/api/operations``: the operation running on a project, for progress bars."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .handler import CheckpointAPIHandler


class OperationsHandler(CheckpointAPIHandler):
    """What the server is doing on a project right now."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Return the running create, restore, verify or delete of ``project``, or null.

        A client polls this while its own request is pending to show progress.
        """
        project = self.project_argument()
        operation = self.operations.current(project.root)
        self.finish(
            {
                "schema_version": 1,
                "project": self.api_path(project.root),
                "operation": operation.as_json() if operation else None,
            }
        )
