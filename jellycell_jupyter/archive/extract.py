"""Reading the tar members of a checkpoint: safety rules, writing files, checking digests.

An :class:`Extractor` walks one stream of tar members, refuses every unsafe
one and writes the rest under a folder (or only hashes them, to verify). The
stream is a whole archive, or one run of whole gzip members of it: a restore
of a large checkpoint reads such runs in several processes at once (this
module is their entry point, ``python -m jellycell_jupyter.archive.extract``),
so it imports nothing it does not need.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from isal import isal_zlib

from .errors import CheckpointError
from .progress import Phase, Progress, ProgressCallback
from .tarformat import (
    BLOCK,
    HeaderError,
    Member,
    padding,
    parse_header,
    parse_pax,
    type_name,
)

READ_SIZE = 1 << 20
EMBEDDED_SUMMARY = "checkpoint.json"
_EXTENDED_LIMIT = 1 << 20  # PAX records and GNU long names: paths and a few attributes
_REGULAR_TYPES = (b"0", b"\0", b"7")
_SUMMARY_LIMIT = 512 << 20
_SMALL_FILE = 1 << 20
# Below this a file is written at once: handing it to a thread costs more than
# writing it, which is a few system calls.
_HAND_OVER = 64 << 10
_LINK_HOPS = 40  # as many links as the kernel follows in one path before giving up
UMASK = os.umask(0o022)
os.umask(UMASK)


Part = Literal["whole", "inner", "last"]


class Unfit(Exception):
    """A run of members that cannot be read on its own; the whole archive is read in one pass."""


@dataclass
class Outcome:
    """What a pass over an archive (or over one run of its members) found."""

    files: int = 0
    summary: Any = None
    digests: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    link_times: dict[str, int] = field(default_factory=dict)
    # Path, mode, time, and whether the folder was made with that mode already.
    folders: list[tuple[str, int, int, bool]] = field(default_factory=list)


def make_link(link: str, path: str, mtime: int) -> None:
    """A symbolic link at ``path`` to ``link``, with the time the archive gives it."""
    os.symlink(link, path)
    os.utime(path, (mtime, mtime), follow_symlinks=False)


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

    def at_end(self) -> bool:
        """Whether every byte has been read: the stream ends at the current position."""
        while self.position >= len(self.buffer):
            if self.exhausted or not self._refill():
                return True
        return False

    def finish(self) -> None:
        """Read to the end of the file: every CRC checked, nothing but zeros after the end."""
        while True:
            rest = self.buffer[self.position :]
            if rest.count(0) != len(rest):
                raise self._damaged("data after the end of the archive")
            self.position = len(self.buffer)
            if self.exhausted or not self._refill():
                return


class RunStream(GzipStream):
    """The decompressed bytes of a run of whole gzip members, each checked against its CRC.

    ``members`` are rows of the archive's index, ``[offset, length, tar offset,
    tar length, crc32]`` with the CRC of the compressed bytes, one after another.
    The run must end where its last member ends; nothing but gzip may lie
    between them.
    """

    def __init__(self, handle: BinaryIO, label: str, members: list[list[int]]) -> None:
        self._members = deque(members)
        super().__init__(handle, label, whole_digest=False)

    def _read_compressed(self) -> bytes:
        if not self._members:
            return b""
        offset, length, _, _, crc = self._members.popleft()
        data = os.pread(self.handle.fileno(), length, offset)
        if len(data) != length or isal_zlib.crc32(data) != crc:
            raise self._damaged(f"the gzip member at byte {offset} differs from its index")
        self.compressed_read += length
        return data

    def _only_zeros_follow(self) -> bool:
        return False


class Extractor:
    """Walks the tar members of a stream, refusing unsafe ones, writing the rest."""

    def __init__(
        self,
        destination: Path | None,
        stream: GzipStream,
        progress: ProgressCallback | None,
        archive_size: int,
        files_total: int,
        *,
        read_summary: Callable[[bytes], Any] | None = None,
        part: Part = "whole",
        others: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self.root = str(destination) if destination is not None else None
        self.stream = stream
        self.progress = progress
        self.archive_size = archive_size
        self.files_total = files_total
        self.read_summary = read_summary
        # One run of an archive read by several processes: links, folder modes
        # and times are left to the caller, who applies them once every run is
        # in (so nothing is written through a link), and a run before the last
        # ends at a member border instead of at the end of the archive.
        self.part = part
        self.others = others
        self.outcome = Outcome()
        self.folders = self.outcome.folders
        self.last_report = 0.0
        self.label = stream.label
        # Small files are written by two threads while this one parses the next
        # members: the system calls release the GIL, so the two overlap.
        self.writers = ThreadPoolExecutor(2, "jellycell-restore") if self.root else None
        self.writes: deque[Future[None]] = deque()

    def _refuse(self, member: str, why: str) -> CheckpointError:
        return unsafe(self.label, member, why, restoring=self.root is not None)

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
            if self.part == "inner" and self.stream.at_end():
                if extended:
                    raise Unfit("an extended header ends the run")
                break
            try:
                member = parse_header(self.stream.read_exact(BLOCK))
            except HeaderError as error:
                raise self.stream._damaged(f"bad tar header: {error}") from None
            if member is None:
                if self.part == "inner":
                    raise Unfit("the end of the archive comes inside a run")
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
            try:
                _apply_extended(member, extended)
            except HeaderError as error:
                raise self.stream._damaged(f"bad tar header: {error}") from None
            extended = {}
            self._member(member)
            self._tick(False)
        self._wait_for_writes()
        if self.part == "whole":
            check_links(self.outcome.links, self._refuse)
            finish_folders(self.folders)
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
        if (
            raw
            and raw[0] not in "/\\"
            and "\0" not in raw
            and "//" not in raw
            and "/." not in raw
            and not raw.startswith(("./", "../"))
            and raw not in (".", "..")
        ):
            return raw.rstrip("/")  # no part is empty, "." or "..": the name as it is
        if "\0" in raw or raw.startswith("/") or ("\\" in raw and raw.startswith("\\")):
            raise self._refuse(raw, "an absolute path")
        parts = [part for part in raw.split("/") if part not in ("", ".")]
        if any(part == ".." for part in parts):
            raise self._refuse(raw, "a path that climbs out with '..'")
        return "/".join(parts) or None

    def _check_parents(self, name: str, raw: str) -> None:
        parent = name.rpartition("/")[0]
        if not parent or self.outcome.kinds.get(parent) == "dir":
            return  # a folder is only ever recorded after its own folders were checked
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
            mode = (member.mode & 0o755) | 0o700
            try:
                os.mkdir(path, mode)
                exact = not mode & UMASK
            except FileExistsError:
                exact = False
            self.folders.append((path, mode, member.mtime, exact))

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
        elif member.size < _HAND_OVER and self.root is not None:
            self._write_at_once(name, member)
            return
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
                if mode & UMASK:
                    os.fchmod(fd, mode)
                os.utime(fd, (member.mtime, member.mtime))
            finally:
                os.close(fd)
        self.stream.read_exact(padding(member.size))
        self.outcome.kinds[name] = "file"
        self.outcome.digests[name] = digest.hexdigest()
        self.outcome.files += 1

    def _write_at_once(self, name: str, member: Member) -> None:
        """A small new file: read whole, written with one call, its system calls only."""
        size = member.size
        data = self.stream.read_exact(size + padding(size))
        if len(data) != size:
            data = data[:size]
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        mode = (member.mode & 0o755) | 0o600
        fd = os.open(os.path.join(self.root or "", name), flags, mode)
        try:
            written = os.write(fd, data) if size else 0
            if written != size:  # a short write: go on, so that a full disk says so
                _write_all(fd, data[written:])
            if mode & UMASK:
                os.fchmod(fd, mode)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)
        self.outcome.kinds[name] = "file"
        self.outcome.digests[name] = hashlib.sha256(data).hexdigest()
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
        if self.root is not None and self.part == "whole":
            make_link(link, os.path.join(self.root, name), member.mtime)
        self.outcome.kinds[name] = "link"
        self.outcome.links[name] = link
        self.outcome.link_times[name] = member.mtime
        self.outcome.files += 1

    def _make_hard_link(self, name: str, member: Member) -> None:
        if self.part != "whole":
            raise Unfit("a hard link may name a file of another run")
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
        if self.read_summary is None:
            raise Unfit("checkpoint.json inside a run")
        if member.size > _SUMMARY_LIMIT:
            raise self._refuse(member.name, "a checkpoint.json too large to be one")
        body = self.stream.read_exact(member.size)
        self.stream.read_exact(padding(member.size))
        try:
            self.outcome.summary = self.read_summary(body)
        except ValueError:
            raise self.stream._damaged("its checkpoint.json cannot be read") from None

    def _tick(self, force: bool) -> None:
        if self.progress is None:
            return
        moment = time.monotonic()
        if not force and moment - self.last_report < 0.1:
            return
        self.last_report = moment
        phase: Phase = "restore" if self.root is not None else "verify"
        files, read = self.outcome.files, self.stream.compressed_read
        if self.others is not None:
            more_files, more_read = self.others()
            files, read = files + more_files, read + more_read
        self.progress(Progress(phase, files, max(self.files_total, files), read, self.archive_size))


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
        if member.size < 0:
            raise HeaderError("a negative PAX size")


def _write_small(path: str, data: bytes, mode: int, mtime: int) -> None:
    """Write one small file whole; run on a writer thread."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, mode)
    try:
        _write_all(fd, data)
        if mode & UMASK:
            os.fchmod(fd, mode)
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def unsafe(label: str, member: str, why: str, *, restoring: bool = True) -> CheckpointError:
    """The refusal of an unsafe member ``member`` of archive ``label``."""
    outcome = "; nothing was restored" if restoring else ""
    return CheckpointError(f"{label} holds an unsafe member {member!r} ({why}){outcome}", "damaged")


def check_links(links: dict[str, str], refuse: Callable[[str, str], CheckpointError]) -> None:
    """Refuse links that leave the target once followed through the archive's other links.

    Each link is checked on its own when it is read, but a link may lead
    through another (``a -> x/up/..`` with ``x/up -> ..``), and a later member
    may complete such a chain, so the whole set is judged once all are in.
    """
    for name, link in links.items():
        if _landing(name, links) is None:
            raise refuse(name, f"a link that leads out of the target or round a loop ({link!r})")


def _landing(name: str, links: dict[str, str]) -> str | None:
    """Where link ``name`` ends up, following the archive's links; ``None`` if outside."""
    pending = list(reversed([*name.split("/")[:-1], *links[name].split("/")]))
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
        link = links.get("/".join(resolved))
        if link is not None:
            hops += 1
            if hops > _LINK_HOPS or link.startswith("/"):
                return None
            resolved.pop()
            pending.extend(reversed(link.split("/")))
    return "/".join(resolved)


def finish_folders(folders: list[tuple[str, int, int, bool]]) -> None:
    """Give folders their modes and times, deepest last made first, once their files are in.

    Last, because a read-only folder would refuse its files. ``exact`` marks a
    folder made with its mode by that very entry, which needs no chmod.
    """
    done: set[str] = set()
    for path, mode, mtime, exact in reversed(folders):
        if path in done:
            continue  # a folder the archive names twice takes what it says last
        done.add(path)
        if not exact:
            os.chmod(path, mode)
        os.utime(path, (mtime, mtime))


def read_run(
    archive: str,
    destination: str | None,
    label: str,
    members: list[list[int]],
    progress: ProgressCallback | None = None,
    others: Callable[[], tuple[int, int]] | None = None,
) -> Outcome:
    """Extract (or only check) the members of one run of an archive, not its last."""
    root = Path(destination) if destination is not None else None
    with open(archive, "rb") as handle:
        stream = RunStream(handle, label, members)
        try:
            return Extractor(root, stream, progress, 0, 0, part="inner", others=others).run()
        finally:
            stream.close()


# -- a run in a helper process -------------------------------------------------------


def _serve_run(
    request: Any, report: Callable[[int, int], None], more: Callable[[], Any]
) -> tuple[str, Any]:
    """Read the run a request names; ``("unfit", why)`` for anything it cannot judge alone."""
    try:
        outcome = read_run(
            request["archive"],
            request["destination"],
            request["label"],
            request["members"],
            lambda step: report(step.files_done, step.bytes_done),
        )
    except (Unfit, CheckpointError, HeaderError, OSError) as problem:
        return ("unfit", str(problem))
    parts = (outcome.files, outcome.digests, outcome.kinds, outcome.links, outcome.link_times)
    return ("ok", (*parts, outcome.folders))


if __name__ == "__main__":
    from .helpers import serve

    serve(_serve_run)
