"""The base of every handler under ``/jellycell/api``: auth, JSON errors, root-relative paths."""

from __future__ import annotations

import functools
import logging
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel, ConfigDict, ValidationError
from tornado import web

from jellycell_jupyter import archive
from jellycell_jupyter.archive.project import CONFIG_NAME

from .errors import error_body, in_api_words, status_for
from .root import ServerRoot
from .running import RunningOperations

AUTH_RESOURCE = "contents"
OPERATIONS_SETTING = "jellycell_jupyter_operations"
LOG_SETTING = "jellycell_jupyter_log"

Body = TypeVar("Body", bound="RequestBody")


class RequestBody(BaseModel):
    """A JSON request body: exact types, no unknown keys (a typo is an error, not a no-op)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class CheckpointAPIHandler(APIHandler):
    """Checks access as the Contents API does, and answers every failure as JSON.

    Subclasses decorate each verb with ``@web.authenticated`` and
    ``@authorized``; the resource is ``contents`` (read for GET, write
    otherwise), and POST and DELETE get the server's XSRF check from
    :class:`APIHandler`. A :class:`CheckpointError` escaping a verb becomes
    the status of its kind, here and nowhere else.
    """

    auth_resource = AUTH_RESOURCE

    @functools.cached_property
    def root(self) -> ServerRoot:
        """The server's root folder, as the contents manager has it now."""
        contents = self.contents_manager
        return ServerRoot(contents.root_dir, allow_hidden=contents.allow_hidden)

    @property
    def operations(self) -> RunningOperations:
        """The operation running on each project."""
        operations: RunningOperations = self.settings[OPERATIONS_SETTING]
        return operations

    @property
    def checkpoint_log(self) -> logging.Logger:
        """The extension's child of the server's logger."""
        log: logging.Logger = self.settings[LOG_SETTING]
        return log

    def find_project(self, api_path: str) -> archive.Project:
        """The project holding the file or folder ``api_path``, which must lie inside the root."""
        start = self.root.resolve(api_path, what="project path")
        if not start.exists():
            raise archive.CheckpointError(
                f"file or directory {api_path!r} does not exist", "not_found"
            )

        folder = start if start.is_dir() else start.parent
        # Walk up no further than the root: a jellycell.toml above it is neither used nor shown.
        for candidate in (folder, *folder.parents):
            if not candidate.is_relative_to(self.root.path):
                break
            if (candidate / CONFIG_NAME).is_file():
                return archive.load_project(candidate)
        raise archive.CheckpointError(
            f"{api_path!r} is not inside a jellycell project: no {CONFIG_NAME} in it or in a "
            "parent folder inside the server's root; run 'jellycell init' to make one",
            "not_found",
        )

    def project_argument(self) -> archive.Project:
        """The project named by the ``project`` query argument."""
        return self.find_project(self.get_query_argument("project"))

    def read_body(self, model: type[Body]) -> Body:
        """The JSON body as ``model``; anything else is a 400 that says what to fix."""
        try:
            return model.model_validate_json(self.request.body.strip() or b"{}")
        except ValidationError as error:
            raise archive.CheckpointError(f"invalid request body: {_describe(error)}") from None

    def api_path(self, path: str | Path) -> str:
        """A server path as the API spells it, relative to the root."""
        return self.root.relative(path)

    def finish_report(self, report: BaseModel, status: int = HTTPStatus.OK) -> None:
        """Send a report with root-relative paths."""
        self.set_status(status)
        self.finish(self.root.to_client(report))

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Give an archiver failure the status code of its kind."""
        error = _exception(kwargs)
        if isinstance(error, archive.CheckpointError):
            status_code = status_for(error)
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Log an archiver failure as one line: it is an answer, not a crash."""
        if isinstance(value, archive.CheckpointError):
            self.checkpoint_log.warning(
                "%s %s failed: %s", self.request.method, self.request.path, value
            )
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer ``{"schema_version": 1, "error": ..., "message": ...}``."""
        error = _exception(kwargs)
        message = self._reason
        if isinstance(error, archive.CheckpointError):
            message = in_api_words(error.message)
        elif isinstance(error, web.HTTPError) and error.log_message:
            try:
                message = error.log_message % error.args
            except (TypeError, ValueError):
                message = error.log_message
        self.finish(error_body(self.root.scrub(message)))


def _exception(kwargs: dict[str, Any]) -> BaseException | None:
    exc_info = kwargs.get("exc_info")
    return exc_info[1] if exc_info else None


def _describe(error: ValidationError) -> str:
    problems = []
    for problem in error.errors()[:3]:
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)
