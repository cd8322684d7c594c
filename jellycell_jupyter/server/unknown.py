"""Any other path under ``/jellycell/api``: a JSON 404 like every other answer of the API."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .handler import CheckpointAPIHandler


class UnknownRouteHandler(CheckpointAPIHandler):
    """Answers 404 for every method, once the caller is known, instead of an HTML page.

    Each verb is a method of its own: ``@authorized`` keeps the action (read or
    write) of the first request it sees, so one method under several verbs
    would check every later verb as the first one.
    """

    @web.authenticated
    @authorized
    async def get(self, rest: str) -> None:
        """No such route."""
        self._missing(rest)

    @web.authenticated
    @authorized
    async def post(self, rest: str) -> None:
        """No such route."""
        self._missing(rest)

    @web.authenticated
    @authorized
    async def put(self, rest: str) -> None:
        """No such route."""
        self._missing(rest)

    @web.authenticated
    @authorized
    async def patch(self, rest: str) -> None:
        """No such route."""
        self._missing(rest)

    @web.authenticated
    @authorized
    async def delete(self, rest: str) -> None:
        """No such route."""
        self._missing(rest)

    def _missing(self, rest: str) -> None:
        raise web.HTTPError(
            404, "no route %r in the checkpoints API; see its openapi.json for the routes", rest
        )
