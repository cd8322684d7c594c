"""Which paths of a project go into a checkpoint, in a fixed order, and which are skipped."""

from __future__ import annotations

import errno
import os
import pickle
import stat
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    """One project path to archive: ``name`` is its archive name, below the folder ``root``."""

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


KINDS = ("file", "sqlite", "dir", "link")
FILE, SQLITE, DIR, LINK = range(len(KINDS))
CHUNK = 4096  # entries spooled together


class Walked:
    """Entries in archive order, spooled to a file in chunks, so memory stays flat.

    A project can hold hundreds of thousands of paths. Entries are gathered
    in columns (names as UTF-8 with ``surrogateescape`` in one buffer,
    numbers in typed arrays), and every :data:`CHUNK` of them is pickled to
    ``fd``, an unnamed file a helper process can be handed too. They are read
    back a chunk at a time, as :class:`Entry` objects for one group at once.
    """

    def __init__(self, root: str, fd: int) -> None:
        self.root = root
        self.fd = fd
        self.count = 0
        self.total_bytes = 0  # bytes of file content to read
        self.chunk_size = CHUNK
        self.chunks: list[tuple[int, int]] = []  # where each chunk lies in the file
        self._end = 0
        self._filling = _Chunk()
        self._loaded: tuple[int, _Chunk] | None = None

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Entry]:
        for number in range(len(self.chunks)):
            start = number * self.chunk_size
            yield from self.entries(start, min(start + self.chunk_size, self.count))

    def __getstate__(self) -> dict[str, Any]:
        assert not self._filling.kinds, "a walk is handed on only once it is over"
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state, _end=0, _filling=_Chunk(), _loaded=None)

    def add(self, name: str, kind: int, size: int, info: os.stat_result, link: str = "") -> None:
        """Append one entry; ``info`` gives its time, mode and identity."""
        self._filling.add(name, kind, size, info, link)
        self.count += 1
        self.total_bytes += size
        if len(self._filling.kinds) == self.chunk_size:
            self.finish()

    def finish(self) -> None:
        """Spool the entries not spooled yet."""
        if not self._filling.kinds:
            return
        data = pickle.dumps(self._filling.columns(), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.pwrite(self.fd, view, self._end + len(data) - len(view)) :]
        self.chunks.append((self._end, len(data)))
        self._end += len(data)
        self._filling = _Chunk()

    def chunk(self, number: int) -> _Chunk:
        """Chunk ``number``, read back (the last one read is kept)."""
        if self._loaded is None or self._loaded[0] != number:
            offset, length = self.chunks[number]
            data = bytearray()
            while len(data) < length:
                block = os.pread(self.fd, length - len(data), offset + len(data))
                if not block:
                    raise OSError(errno.EIO, "a checkpoint's list of files was cut short")
                data += block
            self._loaded = (number, _Chunk(*pickle.loads(data)))
        return self._loaded[1]

    def entries(self, start: int, stop: int) -> list[Entry]:
        """Entries ``start`` to ``stop`` (excluded) as objects."""
        size = self.chunk_size
        made: list[Entry] = []
        while start < stop:
            number, first = divmod(start, size)
            last = min(stop - number * size, size)
            made += self.chunk(number).entries(self.root, first, last)
            start = number * size + last
        return made


class _Chunk:
    """Entries as columns: a chunk of a :class:`Walked`."""

    def __init__(
        self,
        names: bytearray | None = None,
        ends: array[int] | None = None,
        kinds: bytearray | None = None,
        sizes: array[int] | None = None,
        mtimes: array[int] | None = None,
        modes: array[int] | None = None,
        inodes: array[int] | None = None,
        ctimes: array[int] | None = None,
        links: dict[int, str] | None = None,
    ) -> None:
        self.names = bytearray() if names is None else names
        self.ends = array("Q") if ends is None else ends  # where each name ends in ``names``
        self.kinds = bytearray() if kinds is None else kinds
        self.sizes = array("q") if sizes is None else sizes
        self.mtimes = array("q") if mtimes is None else mtimes
        self.modes = array("H") if modes is None else modes
        self.inodes = array("Q") if inodes is None else inodes
        self.ctimes = array("q") if ctimes is None else ctimes
        self.links = {} if links is None else links

    def columns(self) -> tuple[Any, ...]:
        return (
            self.names,
            self.ends,
            self.kinds,
            self.sizes,
            self.mtimes,
            self.modes,
            self.inodes,
            self.ctimes,
            self.links,
        )

    def add(self, name: str, kind: int, size: int, info: os.stat_result, link: str) -> None:
        if link:
            self.links[len(self.kinds)] = link
        self.names += name.encode("utf-8", "surrogateescape")
        self.ends.append(len(self.names))
        self.kinds.append(kind)
        self.sizes.append(size)
        self.mtimes.append(info.st_mtime_ns)
        self.modes.append(0o777 if kind == LINK else stat.S_IMODE(info.st_mode))
        self.inodes.append(info.st_ino)
        self.ctimes.append(info.st_ctime_ns)

    def entries(self, root: str, start: int, stop: int) -> list[Entry]:
        names, ends, kinds, links = self.names, self.ends, self.kinds, self.links
        made = []
        begin = ends[start - 1] if start else 0
        for number in range(start, stop):
            end = ends[number]
            kind = kinds[number]
            made.append(
                Entry(
                    names[begin:end].decode("utf-8", "surrogateescape"),
                    root,
                    KINDS[kind],
                    self.sizes[number],
                    self.mtimes[number],
                    self.modes[number],
                    links.get(number, "") if kind == LINK else "",
                    f"{self.inodes[number]}:{self.ctimes[number]}" if kind <= SQLITE else "",
                )
            )
            begin = end
        return made


@dataclass
class Scan:
    """The outcome of walking a project: entries in archive order, and what was left out."""

    entries: Walked
    skipped: list[SkippedPath] = field(default_factory=list)
    # Called once, as soon as the walk has found ``many`` entries.
    on_many: Callable[[], None] | None = None
    many: int = 0


def scan_project(
    project: Project, *, spool: int, many: int = 0, on_many: Callable[[], None] | None = None
) -> Scan:
    """Walk the project's config and roots; never read outside the project folder.

    Entries are spooled to the file open as ``spool`` (see :class:`Walked`).
    ``on_many`` is called once the walk has found ``many`` entries, which lets
    a caller get ready for a large project before the walk is over.
    """
    root = str(project.root)
    scan = Scan(Walked(root, spool), on_many=on_many, many=many)
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
    scan.entries.finish()
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
    if stat.S_ISDIR(info.st_mode):
        if path == excluded:
            return False
        scan.entries.add(name, DIR, 0, info)
        return True
    if stat.S_ISREG(info.st_mode):
        kind = SQLITE if _looks_like_sqlite(path, info.st_size) else FILE
        scan.entries.add(name, kind, info.st_size, info)
        return False
    if stat.S_ISLNK(info.st_mode):
        link = _link_inside(root, path)
        if isinstance(link, SkippedPath):
            scan.skipped.append(link)
        else:
            scan.entries.add(name, LINK, 0, info, link)
        return False
    scan.skipped.append(_skip(root, path, "not a regular file, folder or link"))
    return False


def _looks_like_sqlite(path: str, size: int) -> bool:
    # SQLite files are a whole number of pages of at least 512 bytes, which
    # spares us opening every small file to read its first bytes.
    if size < 512 or size % 512:
        return False
    if locked_by_this_process(path, unknown=False):
        # Opening and closing it would drop this process's locks (a kernel's
        # open transaction, say); SQLite is what locks a file like this.
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def locked_by_this_process(path: str, *, unknown: bool) -> bool:
    """Whether this process holds POSIX record locks on ``path``; ``unknown`` if it cannot tell.

    Such locks belong to the process, and closing any descriptor of the file
    drops them all, so a file this process locks must not be opened here.
    Linux lists them in ``/proc/locks``.
    """
    try:
        found = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as table:
            lines = table.read().splitlines()
    except OSError:
        return unknown
    where = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}:{found.st_ino}"
    me = str(os.getpid())
    for line in lines:
        fields = line.split()
        if "->" in fields:
            continue  # a lock waited for, not held
        if len(fields) >= 6 and fields[1] == "POSIX" and fields[4] == me and fields[5] == where:
            return True
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
