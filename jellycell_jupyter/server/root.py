"""The server's root folder: root-relative paths from requests in, root-relative paths out."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel

from jellycell_jupyter.archive import CheckpointError

PATH_FIELDS = frozenset({"project", "path", "source", "target", "deleted"})


class ServerRoot:
    """The contents manager's ``root_dir``, the only folder the API reads or writes in.

    Paths in requests and responses are relative to it with ``/`` separators,
    like the Contents API; an absolute path of the machine is never accepted
    (a leading ``/`` means the root, as it does there) and never sent back.
    """

    def __init__(self, root_dir: str, *, allow_hidden: bool) -> None:
        self.path = Path(root_dir).resolve()
        self.allow_hidden = allow_hidden
        spellings = sorted({str(self.path), str(Path(root_dir).absolute())}, key=len, reverse=True)
        self._spellings = [Path(spelling) for spelling in spellings]
        alternatives = "|".join(re.escape(spelling.rstrip("/")) for spelling in spellings)
        self._inside = re.compile(rf"(?:{alternatives})/")
        self._itself = re.compile(rf"(?:{alternatives})(?=$|[\s'\";:,)])")

    def resolve(self, api_path: str, *, what: str = "path", writing: bool = False) -> Path:
        """The file or folder that ``api_path`` names, with links resolved.

        Refuses, as :class:`CheckpointError`, a path that resolves outside the
        root (``forbidden``) and, unless the server allows hidden files, one with
        a hidden part: ``not_found`` when looking something up, as the Contents
        API answers, ``forbidden`` when ``writing``.
        """
        if "\0" in api_path:
            raise CheckpointError(f"the {what} contains a NUL character; send a plain path")
        relative = api_path.strip("/")
        if _is_hidden(PurePosixPath(relative).parts) and not self.allow_hidden:
            raise self._hidden(api_path, what, writing)

        try:
            target = (self.path / relative).resolve()
        except (OSError, RuntimeError):
            raise CheckpointError(
                f"the {what} {api_path!r} cannot be resolved (a link loop?); give another",
                "invalid",
            ) from None
        if not target.is_relative_to(self.path):
            raise CheckpointError(
                f"the {what} {api_path!r} lies outside the server's root folder; "
                "give a path inside it",
                "forbidden",
            )
        if _is_hidden(target.relative_to(self.path).parts) and not self.allow_hidden:
            raise self._hidden(api_path, what, writing)
        return target

    def contains(self, path: Path) -> bool:
        """Whether ``path``, once resolved, lies inside the root (or is the root)."""
        return path.resolve().is_relative_to(self.path)

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` as the API spells it: relative to the root, ``/``-separated, ``""`` for it."""
        absolute = Path(path)
        for base in self._spellings:
            if absolute.is_relative_to(base):
                relative = absolute.relative_to(base)
                return "" if relative == Path() else relative.as_posix()
        raise ValueError(f"{path} lies outside the server's root folder")

    def scrub(self, text: str) -> str:
        """``text`` with every absolute spelling of the root replaced by root-relative paths."""
        if self.path == Path(self.path.anchor):
            return text  # a server rooted at / has nothing above its root to hide
        return self._itself.sub(".", self._inside.sub("", text))

    def to_client(self, report: BaseModel) -> dict[str, Any]:
        """A report as JSON data whose paths are root-relative and whose messages name none."""
        data = report.model_dump(mode="json")
        rewritten: dict[str, Any] = self._rewrite(data, None)
        return rewritten

    def _rewrite(self, value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            return {name: self._rewrite(item, name) for name, item in value.items()}
        if isinstance(value, list):
            return [self._rewrite(item, key) for item in value]
        if isinstance(value, str):
            if key in PATH_FIELDS and Path(value).is_absolute():
                return self.relative(value)
            return self.scrub(value)
        return value

    def _hidden(self, api_path: str, what: str, writing: bool) -> CheckpointError:
        if writing:
            return CheckpointError(
                f"the {what} {api_path!r} is hidden and this server does not allow hidden "
                "files (ContentsManager.allow_hidden); give a path without a part starting "
                "with '.'",
                "forbidden",
            )
        return CheckpointError(f"file or directory {api_path!r} does not exist", "not_found")


def _is_hidden(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") and part not in {".", ".."} for part in parts)
