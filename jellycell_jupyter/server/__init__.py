"""The jupyter_server extension: a REST API over the archiver under ``<base_url>/jellycell/api``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyter_server.utils import url_path_join

from .checkpoints import CheckpointHandler, CheckpointsHandler
from .download import ArchiveHandler
from .handler import LOG_SETTING, OPERATIONS_SETTING
from .operations import OperationsHandler
from .projects import ProjectsHandler
from .restore import RestoreHandler
from .running import RunningOperations
from .unknown import UnknownRouteHandler
from .verify import VerifyHandler
from .version import OpenAPIHandler, VersionHandler

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

API_PREFIX = "jellycell/api"
_NAME = r"(?P<name>[^/]+)"
ROUTES: list[tuple[str, type[Any]]] = [
    ("projects", ProjectsHandler),
    ("checkpoints", CheckpointsHandler),
    (f"checkpoints/{_NAME}", CheckpointHandler),
    (f"checkpoints/{_NAME}/restore", RestoreHandler),
    (f"checkpoints/{_NAME}/verify", VerifyHandler),
    (f"checkpoints/{_NAME}/archive", ArchiveHandler),
    ("operations", OperationsHandler),
    ("version", VersionHandler),
    ("openapi.json", OpenAPIHandler),
]


def _load_jupyter_server_extension(serverapp: ServerApp) -> None:
    """Register the API's handlers under the server's base URL."""
    log = serverapp.log.getChild("jellycell_jupyter")
    web_app = serverapp.web_app
    web_app.settings[OPERATIONS_SETTING] = RunningOperations()
    web_app.settings[LOG_SETTING] = log

    base_url = web_app.settings["base_url"]
    web_app.add_handlers(  # type: ignore[no-untyped-call]
        ".*$",
        [
            *(
                (url_path_join(base_url, API_PREFIX, route) + "/?$", handler)
                for route, handler in ROUTES
            ),
            # Last, so it answers only what no route above matched.
            (url_path_join(base_url, API_PREFIX) + "/(?P<rest>.*)$", UnknownRouteHandler),
        ],
    )
    log.info("checkpoints API at %s", url_path_join(base_url, API_PREFIX))
