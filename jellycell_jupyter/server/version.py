"""``/jellycell/api/version`` and ``/jellycell/api/openapi.json``: what this server speaks."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from jellycell_jupyter import __version__

from .handler import CheckpointAPIHandler

API_VERSION = 1


def openapi_description() -> dict[str, Any]:
    """The OpenAPI 3.1 description of these routes that ships in the package."""
    text = resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8")
    description: dict[str, Any] = json.loads(text)
    return description


class VersionHandler(CheckpointAPIHandler):
    """The handshake of the JupyterLab extension."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Return the package version and the API version."""
        self.finish({"schema_version": 1, "version": __version__, "api_version": API_VERSION})


class OpenAPIHandler(CheckpointAPIHandler):
    """The machine-readable description of this API."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Return the OpenAPI description, with its server URL under this server's base URL."""
        description = openapi_description()
        description["servers"] = [{"url": url_path_join(self.base_url, "jellycell/api")}]
        self.finish(description)
