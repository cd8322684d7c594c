"""The jellycell project model: where a project is, and which folders it archives."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointError

CONFIG_NAME = "jellycell.toml"
DEFAULT_ROOTS: dict[str, str] = {
    "notebooks": "notebooks",
    "data": "data",
    "artifacts": "artifacts",
    "site": "site",
    "manuscripts": "manuscripts",
    "cache": ".jellycell/cache",
}


@dataclass(frozen=True)
class Project:
    """A jellycell project: its folder, its name and its configured roots.

    ``problems`` names the configured roots that were refused; a project with
    any cannot be checkpointed until they are fixed, but its checkpoints can
    still be listed, restored, verified and deleted.

    ``roots`` maps each ``[paths]`` key to its absolute folder, which may not
    exist yet; every one lies inside ``root`` by its spelling (a root that is a
    link leading elsewhere is skipped when archiving).
    """

    root: Path
    name: str
    roots: dict[str, Path]
    problems: tuple[str, ...] = ()

    @property
    def config_path(self) -> Path:
        """The project's ``jellycell.toml``."""
        return self.root / CONFIG_NAME

    @property
    def cache_dir(self) -> Path:
        """The content-addressed cache folder."""
        return self.roots["cache"]

    @property
    def checkpoints_dir(self) -> Path:
        """Where checkpoints live: the folder ``checkpoints`` beside the cache."""
        return self.cache_dir.parent / "checkpoints"


def find_project(start: str | os.PathLike[str]) -> Project:
    """Return the project holding ``start``, walking up to the nearest ``jellycell.toml``."""
    origin = Path(start).expanduser()
    try:
        here = origin.resolve(strict=True)
    except OSError:
        raise CheckpointError(
            f"{origin} does not exist; give a folder inside a jellycell project", "not_found"
        ) from None
    folder = here if here.is_dir() else here.parent
    for candidate in (folder, *folder.parents):
        if (candidate / CONFIG_NAME).is_file():
            return load_project(candidate)
    raise CheckpointError(
        f"{here} is not inside a jellycell project (no {CONFIG_NAME} in it or any parent); "
        "run 'jellycell init' to make one",
        "not_found",
    )


def find_projects_below(folder: str | os.PathLike[str]) -> list[Project]:
    """Projects directly below ``folder`` (the members of a monorepo), by name of folder."""
    base = Path(folder).resolve()
    found = []
    try:
        children = sorted(os.scandir(base), key=lambda entry: entry.name)
    except OSError:
        return []
    for child in children:
        if child.is_dir(follow_symlinks=False) and os.path.isfile(
            os.path.join(child.path, CONFIG_NAME)
        ):
            try:
                found.append(load_project(base / child.name))
            except CheckpointError:
                continue
    return found


def load_project(root: str | os.PathLike[str]) -> Project:
    """Read the project whose folder is ``root``; refuse roots that leave it."""
    folder = Path(root).resolve()
    config_path = folder / CONFIG_NAME
    config = _read_config(config_path)

    project_table = _table(config, "project", config_path)
    name = project_table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CheckpointError(
            f'{config_path} has no [project] name; add a line name = "..." under [project]'
        )

    paths_table = _table(config, "paths", config_path)
    roots: dict[str, Path] = {}
    problems: list[str] = []
    for key, default in DEFAULT_ROOTS.items():
        try:
            roots[key] = _resolve_root(folder, key, paths_table.get(key, default), config_path)
        except CheckpointError as error:
            # Without its cache a project has no checkpoints folder; any other bad
            # root only stops new checkpoints, so the old ones stay reachable.
            if key == "cache":
                raise
            problems.append(error.message)
    return Project(root=folder, name=name, roots=roots, problems=tuple(problems))


def _read_config(config_path: Path) -> dict[str, Any]:
    try:
        with open(config_path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise CheckpointError(
            f"no {CONFIG_NAME} in {config_path.parent}; run 'jellycell init' there", "not_found"
        ) from None
    except OSError as error:
        raise CheckpointError(
            f"cannot read {config_path}: {error.strerror}", "environment"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise CheckpointError(f"{config_path} is not valid TOML ({error}); fix it") from None


def _table(config: dict[str, Any], key: str, config_path: Path) -> dict[str, Any]:
    table = config.get(key, {})
    if not isinstance(table, dict):
        raise CheckpointError(f"[{key}] in {config_path} must be a table")
    return table


def _resolve_root(folder: Path, key: str, value: object, config_path: Path) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise CheckpointError(f"[paths] {key} in {config_path} must be a non-empty string")
    # Lexical on purpose: a root that is a link is judged by the walk, which
    # skips (and reports) a link that leaves the project instead of failing.
    resolved = Path(os.path.normpath(folder / value))
    if resolved == folder or not resolved.is_relative_to(folder):
        raise CheckpointError(
            f"[paths] {key} = {value!r} in {config_path} lies outside the project folder; "
            "point it at a folder inside the project",
            "forbidden",
        )
    return resolved
