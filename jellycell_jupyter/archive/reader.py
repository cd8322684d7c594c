"""Restoring and verifying checkpoints: one pass over the archive, every member checked.

A restore extracts into a hidden folder beside the target and moves it into
place only when the whole archive has been read, every member has passed the
safety rules and every file matches the sha256 in the archive's index. Any
failure removes that folder, so a target is either complete or absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import secrets
import shutil
import stat
import threading
import time
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from isal import isal_zlib
from pydantic import ValidationError

from .durable import os_error
from .errors import CheckpointError
from .progress import Phase, Progress, ProgressCallback
from .project import Project
from .reports import (
    CheckpointRestoreReport,
    CheckpointSummary,
    CheckpointVerifyReport,
    index_row_in,
)
from .store import ProjectLike, archive_path, as_project, default_restore_target, read_sidecar
from .tarformat import (
    BLOCK,
    HeaderError,
    Member,
    padding,
    parse_header,
    parse_pax,
    type_name,
)

log = logging.getLogger(__name__)

READ_SIZE = 1 << 20
EMBEDDED_SUMMARY = "checkpoint.json"
_SUMMARY_LIMIT = 512 << 20
_EXTENDED_LIMIT = 1 << 20  # PAX records and GNU long names: paths and a few attributes
_REGULAR_TYPES = (b"0", b"\0", b"7")
_SMALL_FILE = 1 << 20
# Below this a file is written at once: handing it to a thread costs more than
# writing it, which is a few system calls.
_HAND_OVER = 64 << 10
_LINK_HOPS = 40  # as many links as the kernel follows in one path before giving up
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def restore(
    project: ProjectLike,
    name: str,
    *,
    into: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> CheckpointRestoreReport:
    """Extract a checkpoint into a new folder (by default beside the project).

    An existing, non-empty ``into`` is refused unless ``force`` is given, in
    which case the checkpoint is merged over it once it has been fully checked.
    The live project and its roots are never a target.
    """
    project = as_project(project)
    source = archive_path(project, name)
    name = source.name.removesuffix(".tar.gz")
    target = _restore_target(project, name, into)
    existing = _existing_content(target)
    if existing and not force:
        raise CheckpointError(
            f"{target} exists and is not empty; pass --force to merge the checkpoint over it, "
            "or --into a new folder",
            "conflict",
        )

    started = time.perf_counter()
    created_parents = _make_parents(target.parent)
    staging = target.parent / f".{target.name}.restoring-{secrets.token_hex(4)}"
    try:
        staging.mkdir()
        outcome = _extract(source, staging, progress)
        if existing:
            _merge(staging, target)
        else:
            _move_into_place(staging, target)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in reversed(created_parents):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(error, OSError):
            if str(error.filename or "").startswith(str(staging)):
                # The hidden staging folder is ours; the user asked about the target.
                error = OSError(error.errno, error.strerror)
            raise os_error(error, target) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    log.info(
        "restored checkpoint %s of %s into %s: %d files in %.2fs",
        name,
        project.root,
        target,
        outcome.files,
        time.perf_counter() - started,
    )
    return CheckpointRestoreReport(
        project=str(project.root),
        source=str(source),
        target=str(target),
        name=name,
        files=outcome.files,
        merged=bool(existing),
    )


def verify(
    project: ProjectLike, name: str, *, progress: ProgressCallback | None = None
) -> CheckpointVerifyReport:
    """Check an archive end to end without extracting it; problems are listed, not raised."""
    project = as_project(project)
    source = archive_path(project, name)
    name = source.name.removesuffix(".tar.gz")
    problems: list[str] = []
    files = 0
    digests_checked = False
    try:
        outcome = _extract(source, None, progress)
        files = outcome.files
        digests_checked = outcome.summary is not None and outcome.summary.index is not None
    except CheckpointError as error:
        problems.append(error.message)
    except OSError as error:
        problems.append(os_error(error, source).message)
    return CheckpointVerifyReport(
        project=str(project.root),
        name=name,
        path=str(source),
        ok=not problems,
        files=files,
        problems=problems,
        digests_checked=digests_checked,
    )


def read_embedded_summary(archive: Path) -> CheckpointSummary | None:
    """The archive's own ``checkpoint.json``, for an archive whose sidecar is missing."""
    try:
        outcome = _extract(archive, None, None, check_sidecar=False)
    except (CheckpointError, OSError):
        return None
    return outcome.summary


# -- targets ------------------------------------------------------------------------


def _restore_target(project: Project, name: str, into: str | os.PathLike[str] | None) -> Path:
    chosen = default_restore_target(project, name) if into is None else Path(into).expanduser()
    target = Path(os.path.abspath(chosen))
    resolved = target.resolve()
    if resolved.exists() and not resolved.is_dir():
        raise CheckpointError(f"{target} is a file; choose a folder to restore into")
    live = [project.root.resolve(), *(root.resolve() for root in project.roots.values())]
    live.append(project.checkpoints_dir.resolve())
    # The project folder, its roots (wherever their links lead) and the folders
    # holding it are refused: a merge into any of them could change live files.
    # Elsewhere inside the project is allowed; a project at the top of a server's
    # root has nowhere else to go.
    if live[0].is_relative_to(resolved) or any(resolved.is_relative_to(r) for r in live[1:]):
        raise CheckpointError(
            f"{target} is inside the live project or holds it; restore into a new folder instead",
            "forbidden",
        )
    return resolved


def _existing_content(target: Path) -> bool:
    try:
        with os.scandir(target) as listing:
            return any(True for _ in listing)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise os_error(error, target) from None


def _make_parents(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created = []
    try:
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue  # made meanwhile, by another restore into the same folder perhaps
            created.append(path)
    except OSError as error:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise os_error(error, path) from None
    return created


def _move_into_place(staging: Path, target: Path) -> None:
    try:
        os.rename(staging, target)  # onto an empty folder too
    except OSError as error:
        if error.errno in (39, 17):  # ENOTEMPTY, EEXIST: someone wrote there meanwhile
            raise CheckpointError(
                f"{target} was filled by something else during the restore; nothing was changed",
                "conflict",
            ) from None
        raise


def _merge(staging: Path, target: Path) -> None:
    """Move ``staging`` over ``target``; links in the target are replaced, never followed."""
    _check_merge(staging, target)
    _merge_folder(staging, target)


def _check_merge(source: Path, target: Path) -> None:
    for entry in os.scandir(source):
        destination = target / entry.name
        try:
            existing = os.lstat(destination)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(existing.st_mode) and not entry.is_dir(follow_symlinks=False):
            raise CheckpointError(
                f"{destination} is a folder but the checkpoint holds a file there; "
                "move it away or restore into a new folder",
                "conflict",
            )
        if entry.is_dir(follow_symlinks=False) and stat.S_ISDIR(existing.st_mode):
            _check_merge(Path(entry.path), destination)


def _merge_folder(source: Path, target: Path) -> None:
    for entry in os.scandir(source):
        destination = target / entry.name
        try:
            existing = os.lstat(destination)
        except FileNotFoundError:
            existing = None
        if entry.is_dir(follow_symlinks=False):
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                _merge_folder(Path(entry.path), destination)
                shutil.copystat(entry.path, destination, follow_symlinks=False)
                continue
            if existing is not None:
                os.unlink(destination)
        os.replace(entry.path, destination)


# -- the single pass ------------------------------------------------------------------


@dataclass
class Outcome:
    """What one pass over an archive found."""

    files: int = 0
    summary: CheckpointSummary | None = None
    digests: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def _extract(
    archive: Path,
    destination: Path | None,
    progress: ProgressCallback | None,
    *,
    check_sidecar: bool = True,
) -> Outcome:
    """Read ``archive`` once; write its members under ``destination`` unless it is ``None``."""
    sidecar = read_sidecar(archive) if check_sidecar else None
    with open(archive, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if sidecar is not None and sidecar.size_bytes != size:
            raise CheckpointError(
                f"{archive.name} is {size} bytes but its sidecar says {sidecar.size_bytes}; "
                "the archive is damaged or incomplete",
                "damaged",
            )
        # The archive's own digest is taken on the inflating thread, beside the
        # work of the reading one: a flipped bit that changes no file (in a gzip
        # header, or in the padding of a deflate block) is damage all the same.
        stream = GzipStream(handle, archive.name)
        files_total = sidecar.files if sidecar else 0
        try:
            outcome = Extractor(destination, stream, progress, size, files_total).run()
            stream.finish()
        finally:
            stream.close()
    expected = sidecar.archive_sha256 if sidecar is not None else None
    if expected and stream.digest is not None and stream.digest.hexdigest() != expected:
        raise CheckpointError(
            f"{archive.name} does not match the sha256 in its sidecar; the archive is damaged",
            "damaged",
        )
    _check_index(archive, outcome)
    return outcome


def _check_members(archive: Path, members: list[list[int]]) -> None:
    """Every gzip member's compressed bytes against the CRC the index recorded for them.

    Gzip's own CRC covers what a member decompresses to; this also covers its
    header and the bits deflate ignores, for an archive without its sidecar.
    An archive compressed again by another tool (its members no longer where
    the index says) is left to the digests of its files.
    """
    if any(len(member) != 5 for member in members):
        return  # an index from before member CRCs were recorded
    with open(archive, "rb") as handle:
        fd = handle.fileno()
        if any(os.pread(fd, 2, member[0]) != b"\x1f\x8b" for member in members):
            return
        for offset, length, _, _, crc in members:
            if zlib.crc32(os.pread(fd, length, offset)) != crc:
                raise CheckpointError(
                    f"{archive.name}: the gzip member at byte {offset} differs from its index; "
                    "the archive is damaged",
                    "damaged",
                )


def _check_index(archive: Path, outcome: Outcome) -> None:
    summary = outcome.summary
    if summary is None or summary.index is None:
        return
    listed: set[str] = set()
    for row in map(index_row_in, summary.index.entries):
        name, kind, digest_or_link = str(row[0]), str(row[1]), str(row[5])
        listed.add(name)
        found = outcome.kinds.get(name)
        if found != kind:
            raise CheckpointError(
                f"{archive.name}: {name} is listed in the index but missing from the archive",
                "damaged",
            )
        if kind == "file" and outcome.digests.get(name) != digest_or_link:
            raise CheckpointError(
                f"{archive.name}: {name} does not match its sha256; the archive is damaged",
                "damaged",
            )
        if kind == "link" and outcome.links.get(name) != digest_or_link:
            raise CheckpointError(f"{archive.name}: link {name} differs from its index", "damaged")
    extra = sorted(set(outcome.kinds) - listed)
    if extra:
        raise CheckpointError(
            f"{archive.name}: {extra[0]} is in the archive but not in its index", "damaged"
        )
    if summary.files != sum(1 for kind in outcome.kinds.values() if kind != "dir"):
        raise CheckpointError(f"{archive.name}: file count differs from its summary", "damaged")
    _check_members(archive, summary.index.members)


class GzipStream:
    """The decompressed bytes of a gzip file of one or many members, read forward only."""

    def __init__(self, handle: BinaryIO, label: str, *, whole_digest: bool = True) -> None:
        self.handle = handle
        self.label = label
        self.digest = hashlib.sha256() if whole_digest else None
        self.decompressor = isal_zlib.decompressobj(31)
        self.buffer = b""
        self.position = 0
        self.compressed_read = 0
        self.exhausted = False
        # Inflating runs in its own thread (ISA-L releases the GIL), so that
        # decompression overlaps the hashing and writing done by the reader.
        self._blocks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
        self._stopping = threading.Event()
        self._inflater = threading.Thread(target=self._inflate_all, daemon=True)
        self._inflater.start()

    def close(self) -> None:
        """Stop the inflating thread; call before the file is closed."""
        self._stopping.set()
        while self._inflater.is_alive():
            with contextlib.suppress(queue.Empty):
                self._blocks.get(timeout=0.05)
        self._inflater.join()

    def _inflate_all(self) -> None:
        try:
            while not self._stopping.is_set():
                block = self._inflate_more()
                self._put(block)
                if block is None:
                    return
        except BaseException as error:  # handed to the reading thread, which raises it
            self._put(error)

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self._stopping.is_set():
            try:
                self._blocks.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _refill(self) -> bool:
        """Take more decompressed bytes into the buffer; ``False`` at the true end of the file."""
        if self.exhausted:
            return False
        block = self._blocks.get()
        if isinstance(block, BaseException):
            self.exhausted = True
            raise block
        if block is None:
            self.exhausted = True
            return False
        self.buffer = self.buffer[self.position :] + block
        self.position = 0
        return True

    def _damaged(self, what: str) -> CheckpointError:
        return CheckpointError(
            f"{self.label} is damaged ({what}); restore another checkpoint", "damaged"
        )

    def _inflate_more(self) -> bytes | None:
        """The next decompressed bytes; ``None`` at the true end of the file."""
        while True:
            if self.decompressor.eof:
                rest = self.decompressor.unused_data
                while len(rest) < 2:
                    more = self._read_compressed()
                    if not more:
                        break
                    rest += more
                if not rest:
                    return None
                if not rest.startswith(b"\x1f\x8b"):
                    if rest.count(0) == len(rest) and self._only_zeros_follow():
                        return None
                    raise self._damaged("bytes after the end that are not gzip")
                self.decompressor = isal_zlib.decompressobj(31)
                data = rest
            elif self.decompressor.unconsumed_tail:
                data = self.decompressor.unconsumed_tail
            else:
                data = self._read_compressed()
                if not data:
                    raise self._damaged("it ends in the middle of a gzip member")
            try:
                out = self.decompressor.decompress(data, READ_SIZE)
            except isal_zlib.error as error:  # type: ignore[misc]
                raise self._damaged(f"gzip data error: {error}") from None
            if out:
                return out

    def _only_zeros_follow(self) -> bool:
        while True:
            data = self._read_compressed()
            if not data:
                return True
            if data.count(0) != len(data):
                return False

    def _read_compressed(self) -> bytes:
        data = self.handle.read(READ_SIZE)
        if self.digest is not None:
            self.digest.update(data)
        self.compressed_read += len(data)
        return data

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes, or a damaged-archive error."""
        end = self.position + size
        if end > len(self.buffer):
            # Joined from pieces: growing the buffer until it held them all would
            # copy it once per refill, quadratic in ``size``.
            return b"".join(self.chunks(size))
        data = self.buffer[self.position : end]
        self.position = end
        return data

    def chunks(self, size: int) -> Any:
        """Yield exactly ``size`` bytes in pieces of at most about a megabyte."""
        remaining = size
        while remaining:
            available = len(self.buffer) - self.position
            if not available:
                if self.exhausted or not self._refill():
                    raise self._damaged("it ends too early")
                continue
            take = min(available, remaining)
            yield self.buffer[self.position : self.position + take]
            self.position += take
            remaining -= take

    def finish(self) -> None:
        """Read to the end of the file: every CRC checked, nothing but zeros after the end."""
        while True:
            rest = self.buffer[self.position :]
            if rest.count(0) != len(rest):
                raise self._damaged("data after the end of the archive")
            self.position = len(self.buffer)
            if self.exhausted or not self._refill():
                return


class Extractor:
    """Walks the tar members of a stream, refusing unsafe ones, writing the rest."""

    def __init__(
        self,
        destination: Path | None,
        stream: GzipStream,
        progress: ProgressCallback | None,
        archive_size: int,
        files_total: int,
    ) -> None:
        self.root = str(destination) if destination is not None else None
        self.stream = stream
        self.progress = progress
        self.archive_size = archive_size
        self.files_total = files_total
        self.outcome = Outcome()
        self.folders: list[tuple[str, int, int]] = []
        self.last_report = 0.0
        self.label = stream.label
        # Small files are written by two threads while this one parses the next
        # members: the system calls release the GIL, so the two overlap.
        self.writers = ThreadPoolExecutor(2, "jellycell-restore") if self.root else None
        self.writes: deque[Future[None]] = deque()

    def _refuse(self, member: str, why: str) -> CheckpointError:
        return CheckpointError(
            f"{self.label} holds an unsafe member {member!r} ({why}); nothing was restored",
            "damaged",
        )

    def run(self) -> Outcome:
        """Process every member up to the end-of-archive marker."""
        try:
            return self._run()
        finally:
            if self.writers is not None:
                for write in self.writes:
                    write.cancel()
                self.writers.shutdown(wait=True)

    def _run(self) -> Outcome:
        extended: dict[str, str] = {}
        while True:
            try:
                member = parse_header(self.stream.read_exact(BLOCK))
            except HeaderError as error:
                raise self.stream._damaged(f"bad tar header: {error}") from None
            if member is None:
                break
            kind = member.typeflag
            if kind in (b"x", b"L", b"K", b"g"):
                if member.size > _EXTENDED_LIMIT:
                    raise self.stream._damaged(f"an extended header of {member.size} bytes")
                payload = self.stream.read_exact(member.size + padding(member.size))[: member.size]
                if kind == b"x":
                    try:
                        extended.update(parse_pax(payload))
                    except HeaderError as error:
                        raise self.stream._damaged(str(error)) from None
                elif kind == b"L":
                    extended["path"] = payload.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                elif kind == b"K":
                    extended["linkpath"] = payload.split(b"\0", 1)[0].decode(
                        "utf-8", "surrogateescape"
                    )
                continue
            _apply_extended(member, extended)
            extended = {}
            self._member(member)
            self._tick(False)
        self._wait_for_writes()
        self._check_links()
        self._finish_folders()
        self._tick(True)
        return self.outcome

    def _member(self, member: Member) -> None:
        name = self._safe_name(member.name)
        kind = member.typeflag
        if name == EMBEDDED_SUMMARY and kind in _REGULAR_TYPES:
            self._read_summary(member)
            return
        if name is None:
            if kind == b"5":
                self._skip_data(member)
                return
            raise self._refuse(member.name, "an empty name")
        self._check_parents(name, member.name)
        previous = self.outcome.kinds.get(name)
        if kind == b"5":
            if previous not in (None, "dir"):
                raise self._refuse(member.name, "a folder where the archive already put a file")
            self._make_folder(name, member)
        elif kind in _REGULAR_TYPES:
            if previous in ("dir", "link"):
                raise self._refuse(
                    member.name, "a file where the archive already put a folder or link"
                )
            self._write_file(name, member)
        elif kind == b"2":
            if previous is not None:
                raise self._refuse(member.name, "a link over an earlier member")
            self._make_link(name, member)
        elif kind == b"1":
            if previous is not None:
                raise self._refuse(member.name, "a hard link over an earlier member")
            self._make_hard_link(name, member)
        else:
            raise self._refuse(member.name, f"a {type_name(kind)}, which a checkpoint never holds")

    def _safe_name(self, raw: str) -> str | None:
        if "\0" in raw or raw.startswith("/") or ("\\" in raw and raw.startswith("\\")):
            raise self._refuse(raw, "an absolute path")
        parts = [part for part in raw.split("/") if part not in ("", ".")]
        if any(part == ".." for part in parts):
            raise self._refuse(raw, "a path that climbs out with '..'")
        return "/".join(parts) or None

    def _check_parents(self, name: str, raw: str) -> None:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            kind = self.outcome.kinds.get(parent)
            if kind == "link":
                raise self._refuse(raw, f"it would be written through the link {parent!r}")
            if kind == "file":
                raise self._refuse(raw, f"its folder {parent!r} is a file in the archive")
            if kind is None:
                self.outcome.kinds[parent] = "dir"
                if self.root is not None:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(os.path.join(self.root, parent), 0o755)

    def _make_folder(self, name: str, member: Member) -> None:
        self._skip_data(member)
        self.outcome.kinds[name] = "dir"
        if self.root is not None:
            path = os.path.join(self.root, name)
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700)
            self.folders.append((path, (member.mode & 0o755) | 0o700, member.mtime))

    def _wait_for_writes(self, limit: int = 0) -> None:
        while len(self.writes) > limit:
            self.writes.popleft().result()

    def _write_file(self, name: str, member: Member) -> None:
        handed_over = _HAND_OVER <= member.size <= _SMALL_FILE
        if self.writers is not None and handed_over and name not in self.outcome.kinds:
            data = self.stream.read_exact(member.size)
            self.stream.read_exact(padding(member.size))
            path = os.path.join(self.root or "", name)
            mode = (member.mode & 0o755) | 0o600
            self.writes.append(self.writers.submit(_write_small, path, data, mode, member.mtime))
            self._wait_for_writes(limit=64)
            self.outcome.kinds[name] = "file"
            self.outcome.digests[name] = hashlib.sha256(data).hexdigest()
            self.outcome.files += 1
            return
        if name in self.outcome.kinds:
            self._wait_for_writes()  # a later member of the same name replaces the earlier
        digest = hashlib.sha256()
        if self.root is None:
            for piece in self.stream.chunks(member.size):
                digest.update(piece)
        else:
            path = os.path.join(self.root, name)
            if name in self.outcome.kinds:
                os.unlink(path)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            mode = (member.mode & 0o755) | 0o600
            fd = os.open(path, flags, mode)
            try:
                for piece in self.stream.chunks(member.size):
                    digest.update(piece)
                    _write_all(fd, piece)  # loops: a short write on a full disk is no success
                if mode & _UMASK:
                    os.fchmod(fd, mode)
                os.utime(fd, (member.mtime, member.mtime))
            finally:
                os.close(fd)
        self.stream.read_exact(padding(member.size))
        self.outcome.kinds[name] = "file"
        self.outcome.digests[name] = digest.hexdigest()
        self.outcome.files += 1

    def _make_link(self, name: str, member: Member) -> None:
        self._skip_data(member)
        link = member.link
        if not link or link.startswith("/"):
            raise self._refuse(member.name, f"a link to the absolute path {link!r}")
        if "\0" in link:
            raise self._refuse(member.name, "a link whose target holds a NUL byte")
        landing = os.path.normpath(os.path.join(os.path.dirname(name), link))
        if landing == ".." or landing.startswith("../") or landing.startswith("/"):
            raise self._refuse(member.name, f"a link that leads out of the target ({link!r})")
        if self.root is not None:
            os.symlink(link, os.path.join(self.root, name))
        self.outcome.kinds[name] = "link"
        self.outcome.links[name] = link
        self.outcome.files += 1

    def _check_links(self) -> None:
        """Refuse links that leave the target once followed through the archive's other links.

        Each link is checked on its own when it is made, but a link may lead
        through another (``a -> x/up/..`` with ``x/up -> ..``), and a later
        member may complete such a chain, so the whole set is judged at the end.
        """
        for name, link in self.outcome.links.items():
            if self._landing(name) is None:
                raise self._refuse(
                    name, f"a link that leads out of the target or round a loop ({link!r})"
                )

    def _landing(self, name: str) -> str | None:
        """Where link ``name`` ends up, following the archive's links; ``None`` if outside."""
        pending = list(reversed([*name.split("/")[:-1], *self.outcome.links[name].split("/")]))
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    return None
                resolved.pop()
                continue
            resolved.append(part)
            link = self.outcome.links.get("/".join(resolved))
            if link is not None:
                hops += 1
                if hops > _LINK_HOPS or link.startswith("/"):
                    return None
                resolved.pop()
                pending.extend(reversed(link.split("/")))
        return "/".join(resolved)

    def _make_hard_link(self, name: str, member: Member) -> None:
        self._skip_data(member)
        try:
            target = self._safe_name(member.link)
        except CheckpointError:  # name the member, not its target, in the refusal
            target = None
        if target is None or self.outcome.kinds.get(target) != "file":
            raise self._refuse(member.name, f"a hard link to {member.link!r}, not an earlier file")
        if self.root is not None:
            self._wait_for_writes()
            os.link(os.path.join(self.root, target), os.path.join(self.root, name))
        self.outcome.kinds[name] = "file"
        self.outcome.digests[name] = self.outcome.digests[target]
        self.outcome.files += 1

    def _skip_data(self, member: Member) -> None:
        if member.size:
            for _ in self.stream.chunks(member.size + padding(member.size)):
                pass

    def _read_summary(self, member: Member) -> None:
        if member.size > _SUMMARY_LIMIT:
            raise self._refuse(member.name, "a checkpoint.json too large to be one")
        body = self.stream.read_exact(member.size)
        self.stream.read_exact(padding(member.size))
        try:
            data = json.loads(body)
            if isinstance(data, dict):
                data.setdefault("size_bytes", self.archive_size)
            self.outcome.summary = CheckpointSummary.model_validate(data)
        except (ValueError, ValidationError):
            raise self.stream._damaged("its checkpoint.json cannot be read") from None

    def _finish_folders(self) -> None:
        # Folder modes and times last: a read-only folder would refuse its files.
        for path, mode, mtime in reversed(self.folders):
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime))

    def _tick(self, force: bool) -> None:
        if self.progress is None:
            return
        moment = time.monotonic()
        if not force and moment - self.last_report < 0.1:
            return
        self.last_report = moment
        phase: Phase = "restore" if self.root is not None else "verify"
        self.progress(
            Progress(
                phase,
                self.outcome.files,
                max(self.files_total, self.outcome.files),
                self.stream.compressed_read,
                self.archive_size,
            )
        )


def _apply_extended(member: Member, extended: dict[str, str]) -> None:
    if "path" in extended:
        member.name = extended["path"]
    if "linkpath" in extended:
        member.link = extended["linkpath"]
    if "size" in extended:
        try:
            member.size = int(extended["size"])
        except ValueError:
            raise HeaderError("malformed PAX size") from None


def _write_small(path: str, data: bytes, mode: int, mtime: int) -> None:
    """Write one small file whole; run on a writer thread."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, mode)
    try:
        _write_all(fd, data)
        if mode & _UMASK:
            os.fchmod(fd, mode)
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
