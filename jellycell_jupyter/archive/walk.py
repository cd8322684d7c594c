"""Which paths of a project go into a checkpoint, in a fixed order, and which are skipped."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .project import CONFIG_NAME, Project
from .reports import SkippedPath

JUNK_FOLDERS = frozenset(
    {
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
        ".git",
        ".venv",
        "venv",
        "node_modules",
    }
)
JUNK_FILES = frozenset({".DS_Store"})
SQLITE_MAGIC = b"SQLite format 3\0"
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(slots=True)
class Entry:
    """One project path to archive: ``name`` is its archive name, below the folder ``root``.

    Every entry shares its project's ``root`` string: a walk holds tens of
    thousands of entries, and a full path each would be most of their memory.
    """

    name: str
    root: str
    kind: str  # "file", "sqlite", "dir" or "link"
    size: int
    mtime_ns: int
    mode: int
    link: str = ""
    signature: str = ""

    @property
    def path(self) -> str:
        """Where the entry is now."""
        return f"{self.root}/{self.name}"


@dataclass
class Scan:
    """The outcome of walking a project: entries in archive order, and what was left out."""

    entries: list[Entry] = field(default_factory=list)
    skipped: list[SkippedPath] = field(default_factory=list)
    # Called once, as soon as the walk has found ``many`` entries.
    on_many: Callable[[], None] | None = None
    many: int = 0

    @property
    def total_bytes(self) -> int:
        """Bytes of file content to read."""
        return sum(entry.size for entry in self.entries)


def scan_project(
    project: Project, *, many: int = 0, on_many: Callable[[], None] | None = None
) -> Scan:
    """Walk the project's config and roots; never read outside the project folder.

    ``on_many`` is called once the walk has found ``many`` entries, which lets
    a caller get ready for a large project before the walk is over.
    """
    scan = Scan(on_many=on_many, many=many)
    root = str(project.root)
    # Where the folder really is: it may be a link into one of the roots.
    excluded = os.path.realpath(project.checkpoints_dir)
    config = os.path.join(root, CONFIG_NAME)
    _add_path(scan, root, config, excluded, recurse=False)

    seen: set[str] = set()
    for top in _top_folders(project):
        for ancestor in _ancestors(root, top):
            if ancestor not in seen:
                seen.add(ancestor)
                _add_path(scan, root, ancestor, excluded, recurse=False)
        if top not in seen:
            seen.add(top)
            _add_path(scan, root, top, excluded, recurse=True)
    return scan


def _top_folders(project: Project) -> list[str]:
    """The configured roots that exist, without those that lie inside another root."""
    folders = sorted({os.path.normpath(path) for path in project.roots.values()})
    kept: list[str] = []
    for folder in folders:
        if any(folder.startswith(outer + os.sep) for outer in kept):
            continue
        if os.path.lexists(folder):
            kept.append(folder)
    return kept


def _ancestors(root: str, folder: str) -> list[str]:
    relative = os.path.relpath(folder, root).split(os.sep)[:-1]
    return [os.path.join(root, *relative[: depth + 1]) for depth in range(len(relative))]


def _add_path(scan: Scan, root: str, path: str, excluded: str, *, recurse: bool) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        scan.skipped.append(_skip(root, path, f"cannot be read: {error.strerror}"))
        return
    if _add_entry(scan, root, path, info, excluded) and recurse:
        _walk_folder(scan, root, path, excluded)


def _walk_folder(scan: Scan, root: str, folder: str, excluded: str) -> None:
    try:
        with os.scandir(folder) as listing:
            children = sorted(listing, key=lambda child: child.name)
    except OSError as error:
        scan.skipped.append(_skip(root, folder, f"cannot be listed: {error.strerror}"))
        return
    names: set[str] | None = None
    for child in children:
        if child.name in JUNK_FOLDERS and child.is_dir(follow_symlinks=False):
            continue
        if child.name in JUNK_FILES:
            continue
        if child.name.endswith(SQLITE_COMPANIONS):
            names = names or {other.name for other in children}
            if _is_sqlite_companion(child.name, names):
                continue
        try:
            info = child.stat(follow_symlinks=False)
        except OSError as error:
            scan.skipped.append(_skip(root, child.path, f"cannot be read: {error.strerror}"))
            continue
        if _add_entry(scan, root, child.path, info, excluded):
            _walk_folder(scan, root, child.path, excluded)
    if scan.on_many is not None and len(scan.entries) >= scan.many:
        call, scan.on_many = scan.on_many, None
        call()


def _is_sqlite_companion(name: str, names: set[str]) -> bool:
    """``x.db-wal`` and friends are captured by the online backup of ``x.db``."""
    return any(
        name.endswith(suffix) and name[: -len(suffix)] in names for suffix in SQLITE_COMPANIONS
    )


def _add_entry(scan: Scan, root: str, path: str, info: os.stat_result, excluded: str) -> bool:
    """Record one path; return whether it is a folder to descend into."""
    # Every path comes from joining names onto ``root``, so slicing is exact
    # and far cheaper than relpath across tens of thousands of files.
    name = path[len(root) + 1 :] if path.startswith(root + "/") else os.path.relpath(path, root)
    mode = stat.S_IMODE(info.st_mode)
    signature = f"{info.st_ino}:{info.st_ctime_ns}"
    if stat.S_ISDIR(info.st_mode):
        if path == excluded:
            return False
        scan.entries.append(Entry(name, root, "dir", 0, info.st_mtime_ns, mode))
        return True
    if stat.S_ISREG(info.st_mode):
        kind = "sqlite" if _looks_like_sqlite(path, info.st_size) else "file"
        scan.entries.append(
            Entry(name, root, kind, info.st_size, info.st_mtime_ns, mode, signature=signature)
        )
        return False
    if stat.S_ISLNK(info.st_mode):
        link = _link_inside(root, path)
        if isinstance(link, SkippedPath):
            scan.skipped.append(link)
        else:
            scan.entries.append(Entry(name, root, "link", 0, info.st_mtime_ns, 0o777, link=link))
        return False
    scan.skipped.append(_skip(root, path, "not a regular file, folder or link"))
    return False


def _looks_like_sqlite(path: str, size: int) -> bool:
    # SQLite files are a whole number of pages of at least 512 bytes, which
    # spares us opening every small file to read its first bytes.
    if size < 512 or size % 512:
        return False
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _link_inside(root: str, path: str) -> str | SkippedPath:
    """The link's target rewritten relative to the link, or why it is skipped."""
    try:
        target = Path(path).resolve(strict=True)
    except RuntimeError:
        return _skip(root, path, "link loop")
    except OSError as error:
        if error.errno == 40:  # ELOOP
            return _skip(root, path, "link loop")
        return _skip(root, path, "link to nothing")
    if not target.is_relative_to(root):
        return _skip(root, path, f"link leaves the project (to {target})")
    return os.path.relpath(target, os.path.dirname(path))


def _skip(root: str, path: str, reason: str) -> SkippedPath:
    return SkippedPath(path=os.path.relpath(path, root).replace(os.sep, "/"), reason=reason)
