"""``/jellycell/api/projects``: the project holding a folder, and the projects below it."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from jellycell_jupyter import archive

from .handler import CheckpointAPIHandler


class ProjectsHandler(CheckpointAPIHandler):
    """Which jellycell projects a file browser location belongs to or holds."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Return the project containing ``path`` (walking up) and the projects directly below it.

        ``project`` is null when ``path`` is in no project; ``projects`` lists
        the members of a monorepo folder, without hidden ones unless the
        server shows hidden files.
        """
        path = self.get_query_argument("path", "")
        folder = self.root.resolve(path)
        try:
            containing: archive.Project | None = self.find_project(path)
        except archive.CheckpointError as error:
            if error.kind != "not_found" or not folder.exists():
                raise
            containing = None

        below = archive.find_projects_below(folder) if folder.is_dir() else []
        visible = [
            project
            for project in below
            if self.root.contains(project.root)
            and (self.root.allow_hidden or not project.root.name.startswith("."))
        ]
        self.finish(
            {
                "schema_version": 1,
                "path": self.api_path(folder),
                "project": self._describe(containing) if containing else None,
                "projects": [self._describe(project) for project in visible],
            }
        )

    def _describe(self, project: archive.Project) -> dict[str, Any]:
        return {
            "name": project.name,
            "path": self.api_path(project.root),
            "checkpoints_path": self.api_path(project.checkpoints_dir),
        }
