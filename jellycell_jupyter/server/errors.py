"""The one mapping from archiver failures to HTTP status codes, and the error body."""

from __future__ import annotations

import errno
import json
import os
import re
from http import HTTPStatus

from jellycell_jupyter.archive import CheckpointError, ErrorKind

STATUS_BY_KIND: dict[ErrorKind, HTTPStatus] = {
    "invalid": HTTPStatus.BAD_REQUEST,
    "forbidden": HTTPStatus.FORBIDDEN,
    "not_found": HTTPStatus.NOT_FOUND,
    "conflict": HTTPStatus.CONFLICT,
    "damaged": HTTPStatus.UNPROCESSABLE_ENTITY,
    "environment": HTTPStatus.INTERNAL_SERVER_ERROR,
}

_FULL_DISK = {errno.ENOSPC, errno.EDQUOT}
_FULL_DISK_WORDS = ("no space left", os.strerror(errno.ENOSPC).lower())


def status_for(error: CheckpointError) -> HTTPStatus:
    """The status code that answers ``error``: 507 for a full disk, else by its kind."""
    if error.kind == "environment" and _is_full_disk(error):
        return HTTPStatus.INSUFFICIENT_STORAGE
    return STATUS_BY_KIND.get(error.kind, HTTPStatus.INTERNAL_SERVER_ERROR)


def _is_full_disk(error: BaseException) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in _FULL_DISK:
            return True
        cause = cause.__cause__ or cause.__context__
    message = str(error).lower()
    return any(words in message for words in _FULL_DISK_WORDS)


_OPTION = re.compile(r"--(force|into|name)\b")
_FIELD = {"force": '"force": true', "into": '"into"', "name": '"name"'}


def in_api_words(message: str) -> str:
    """``message`` with the command line's options named as this API's body fields."""
    return _OPTION.sub(lambda match: _FIELD[match.group(1)], message)


def error_body(message: str) -> str:
    """The JSON of an error: the contract's ``error``, and jupyter_server's ``message``."""
    return json.dumps({"schema_version": 1, "error": message, "message": message})
