"""Creating checkpoints: a fast, reproducible, incremental ``.tar.gz`` that appears atomically.

The archive is one ordinary gzip-compressed tar, written as many gzip members:
small files in groups, large files in pieces. Members are compressed on every
core with ISA-L, and a group whose files have not changed since the previous
checkpoint is copied from it compressed, without reading the files again. The
last member holds ``checkpoint.json``: the summary, with an index of every
member and every file's sha256.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from isal import igzip, isal_zlib

from .durable import (
    despite_interrupts,
    fsync_dir,
    interrupts_held,
    os_error,
    publish_exclusively,
    reservation,
    write_file_atomically,
)
from .errors import CheckpointError
from .gzipmember import LEVEL, compress_member, stored_member
from .helpers import Helper
from .names import ARCHIVE_SUFFIX, auto_name, sanitize_name
from .progress import Progress, ProgressCallback
from .project import Project
from .reports import (
    INDEX_FORMAT,
    CheckpointCreateReport,
    CheckpointSummary,
    index_row_in,
    index_row_out,
)
from .store import ProjectLike, as_project, list_checkpoints, lock_for, read_sidecar, sidecar_for
from .tarformat import BLOCK, DIRECTORY, END_OF_ARCHIVE, REGULAR, SYMLINK, header, padding
from .walk import (
    FILE,
    SQLITE,
    SQLITE_COMPANIONS,
    Entry,
    Walked,
    locked_by_this_process,
    scan_project,
)

log = logging.getLogger(__name__)

PIECE = 2 << 20  # large files are cut into gzip members of this many bytes
GROUP_LIMIT = 1 << 20  # small files share a member until it holds this much
IN_FLIGHT = 16 << 20  # bytes of members on their way to the archive, beyond the first few
_QUEUED_AT_MOST = 64  # members on their way, however small
GROUP_SPREAD = 64  # on average a group ends every this many entries, by name
READ_ATTEMPTS = 3
SQLITE_PATIENCE = 60.0  # seconds a create waits for a database another program holds locked
_SIZE_WIDTH = 20
# A group: the numbers of its first entry and of the entry after its last, and
# the bytes of content its files hold.
Span = tuple[int, int, int]
# A create whose groups would take this long (estimated, in seconds) shares
# the last of them with a helper process, which writes their members into a
# file of its own that is then appended; the costs below share them evenly.
HELPER_FROM = 0.6
_COST_PER_FILE = 35e-6
_COST_PER_BYTE = 1.5e-9
_COST_PER_REUSED = 2e-6
_HELPER_START = 0.05  # seconds before a helper takes its work; it starts during the walk
_ROWS_AT_ONCE = 2000  # index rows encoded together on their way to the spool
HELPER_ENTRIES = 15_000  # a first create whose walk finds this many entries starts a helper
PACKER = "jellycell_jupyter.archive.pack"


def create(
    project: ProjectLike,
    *,
    message: str | None = None,
    name: str | None = None,
    progress: ProgressCallback | None = None,
) -> CheckpointCreateReport:
    """Archive the project into ``<checkpoints>/<name>.tar.gz`` with its sidecar.

    Without ``name`` the checkpoint is named by its UTC creation time, made
    distinct if another one took that second. Nothing is ever overwritten, and
    a failure or interrupt leaves no archive, sidecar or temporary file.
    """
    project = as_project(project)
    if project.problems:
        raise CheckpointError(project.problems[0], "forbidden")
    now = datetime.now(UTC)
    folder = project.checkpoints_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CheckpointError(
            f"{folder} exists but is not a folder; move it away so checkpoints can live there",
            "environment",
        ) from None
    except OSError as error:
        raise os_error(error, folder) from None

    _sweep_leftovers(project)
    for stem in _candidate_names(name, now):
        try:
            with reservation(lock_for(project, stem), f"creating checkpoint {stem!r}"):
                if (folder / f"{stem}{ARCHIVE_SUFFIX}").exists():
                    raise CheckpointError(
                        f"checkpoint {stem!r} already exists in {folder}; "
                        "choose another name with --name",
                        "conflict",
                    )
                return _create_reserved(project, stem, now, message, progress)
        except CheckpointError as error:
            if name is not None or error.kind != "conflict":
                raise
    raise CheckpointError("could not find a free checkpoint name; try again", "conflict")


# The hidden files a create makes next to its archive, named after the checkpoint
# (no suffix is another one with a dot and more in front, so a name says whose it
# is), and the file that reserves the name, which only tells whose files to look for.
_LEFTOVER = re.compile(
    r"\.(?P<stem>.+?)\.(?P<suffix>tar\.gz\.partial|index\.partial|json\.partial-\d+"
    r"|sqlite\.partial(?:-hot)?(?:-journal)?|helped-[0-9a-f]{8}\.partial(?:-index(?:-marked)?"
    r"|-sqlite(?:-hot)?(?:-journal)?)?|lock)"
)


def _sweep_leftovers(project: Project) -> None:
    """Remove what creates killed outright (by SIGKILL or a power cut) left behind.

    A create holds its checkpoint name's reservation until its hidden files
    are gone, so files whose name can be reserved now belong to nobody.
    """
    folder = project.checkpoints_dir
    try:
        names = os.listdir(folder)
    except OSError:
        return
    stems: dict[str, list[str]] = {}
    for name in names:
        if (found := _LEFTOVER.fullmatch(name)) is not None:
            leftovers = stems.setdefault(found["stem"], [])
            if found["suffix"] != "lock":  # removed by the reservation itself, once released
                leftovers.append(name)
    for stem, leftovers in stems.items():
        claim = reservation(lock_for(project, stem), f"creating checkpoint {stem!r}")
        with contextlib.suppress(CheckpointError, OSError), claim:
            for name in leftovers:
                try:
                    os.unlink(folder / name)
                except OSError:  # gone already, or not a file this create made
                    continue
                log.info("removed %s, left by a create that was killed", folder / name)


def _candidate_names(name: str | None, now: datetime) -> Iterator[str]:
    if name is not None:
        # Later verbs accept "x.tar.gz" for "x", so the same words must name it here.
        stem = sanitize_name(name.removesuffix(ARCHIVE_SUFFIX))
        if stem in {".", ".."}:
            raise CheckpointError(f"{name!r} cannot name a checkpoint; choose a name with letters")
        yield stem
        return
    base = auto_name(now)
    yield base
    for counter in range(2, 100):
        yield f"{base}-{counter}"


def _create_reserved(
    project: Project,
    stem: str,
    now: datetime,
    message: str | None,
    progress: ProgressCallback | None,
) -> CheckpointCreateReport:
    started = time.perf_counter()
    folder = project.checkpoints_dir
    final = folder / f"{stem}{ARCHIVE_SUFFIX}"
    partial = folder / f".{stem}{ARCHIVE_SUFFIX}.partial"
    sidecar = sidecar_for(final)
    rows_path = folder / f".{stem}.index.partial"
    published = False
    ready: list[Helper] = []
    previous: PreviousArchive | None = None
    try:
        previous = _previous_index(project)
        # The walk is spooled to an unnamed file, which a helper is handed too.
        spool = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (closed below)

        # A helper process is started while a large project is still being
        # walked, so that it is ready when its share of the groups is; not when
        # an earlier checkpoint is there, whose groups are mostly copied.
        def start_helper() -> None:
            ready.append(Helper(PACKER, pass_fds=(spool.fileno(),)))

        early = start_helper if previous is None else None
        scratch = folder / f".{stem}.sqlite.partial"
        # A helper's files are this create's own: a helper of a killed create
        # may still be writing its files for a moment, and must not meet these.
        helped = folder / f".{stem}.helped-{secrets.token_hex(4)}.partial"
        with spool, open(partial, "wb") as output, open(rows_path, "w+b") as rows:
            scan = scan_project(project, spool=spool.fileno(), many=HELPER_ENTRIES, on_many=early)
            writer = ArchiveWriter(output, previous, progress, scratch, helped, ready, rows)
            try:
                writer.write_entries(scan.entries)
                if previous is not None:
                    previous.confirm()
            except StalePrevious as stale:
                # The previous archive changed under us or was damaged: start
                # again from the files themselves, copying nothing from it.
                log.warning("not copying from %s: %s", previous and previous.path, stale)
                writer.close()
                output.seek(0)
                output.truncate()
                writer = ArchiveWriter(output, None, progress, scratch, helped, ready, rows)
                writer.write_entries(scan.entries)
            summary = writer.finish(project, now, message, scan)
            output.flush()
            os.fsync(output.fileno())
        sidecar_text = summary.model_dump_json(indent=2).encode()
        with interrupts_held():  # the archive and its sidecar appear together
            publish_exclusively(partial, final)
            published = True
            write_file_atomically(sidecar, sidecar_text)
            fsync_dir(folder)
    except BaseException as error:

        def clean_up() -> None:
            for helper in ready:
                helper.stop()
            for leftover in (partial, final if published else None, sidecar if published else None):
                if leftover is not None:
                    with contextlib.suppress(OSError):
                        leftover.unlink()

        despite_interrupts(clean_up)  # a second Ctrl-C must not stop it halfway
        if isinstance(error, OSError):
            raise os_error(error, folder) from None
        raise
    finally:
        despite_interrupts(lambda: _unlink_if_there(rows_path))
        if previous is not None:
            os.close(previous.fd)
    log.info(
        "created checkpoint %s of %s: %d files, %d bytes (%d reused) in %.2fs",
        stem,
        project.root,
        summary.files,
        summary.size_bytes,
        writer.reused_bytes,
        time.perf_counter() - started,
    )
    return CheckpointCreateReport(
        project=str(project.root),
        path=str(final),
        files=summary.files,
        size_bytes=summary.size_bytes,
        message=message,
        name=stem,
        archive_sha256=summary.archive_sha256,
        reused_bytes=writer.reused_bytes,
        skipped=summary.skipped,
        changed=summary.changed,
    )


@dataclass
class PreviousArchive:
    """The newest earlier checkpoint whose compressed groups may be copied.

    Only what a copy needs is kept, in a few bytes an entry: each group's
    fingerprint (see :func:`_fingerprint`), and each file's sha256 and member;
    the rest of a copied row is the walk's own entry, equal by fingerprint.
    """

    path: Path
    members: list[list[int]]
    groups: list[list[int]]
    by_first_name: dict[str, int]  # a copiable group's number, by its first entry's name
    fingerprints: list[bytes]
    digests: bytearray  # 32 bytes an entry, zeros where it is not a file
    member_of: array[int]  # an entry's member, counted from its group's first member
    fd: int = -1  # the archive, open; a helper process is handed it too
    _whole: Future[str] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # A helper process is handed what to copy; the check stays with its creator.
        return {**vars(self), "_whole": None}

    def check_whole(self, expected: str) -> None:
        """Start hashing the whole archive, to hold against ``expected`` before it is trusted.

        Each copied member is checked against its CRC in the index, but the
        index itself could be damaged: only the archive's sha256, which its
        sidecar records, vouches for the rows a copy takes over.
        """
        future: Future[str] = Future()
        self._whole = future

        def run() -> None:
            try:
                digest = hashlib.sha256()
                at = 0
                while block := os.pread(self.fd, 1 << 20, at):
                    digest.update(block)
                    at += len(block)
                future.set_result("" if digest.hexdigest() == expected else "its sha256 differs")
            except OSError as error:
                future.set_result(f"it cannot be read ({error.strerror})")

        threading.Thread(target=run, name="jellycell-previous", daemon=True).start()

    def confirm(self) -> None:
        """Raise :class:`StalePrevious` unless the whole archive matched its sha256."""
        problem = self._whole.result() if self._whole is not None else "it was not checked"
        if problem:
            raise StalePrevious(f"{self.path.name}: {problem}")


def _unlink_if_there(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _previous_index(project: Project) -> PreviousArchive | None:
    """The newest good checkpoint to copy from, open: index, hash and copies read one file."""
    for entry in list_checkpoints(project).checkpoints:
        if entry.status != "ok":
            continue
        archive = Path(entry.path)
        try:
            fd = os.open(archive, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        index = read_index(archive, fd)
        try:
            if index is None or not index["archive_sha256"]:
                raise ValueError("it has no index or no sha256")
            previous = _digest_previous(archive, index)
        except Exception as error:  # any index that cannot be used is not used
            log.info("not copying from %s: its index cannot be used (%s)", archive, error)
            os.close(fd)
            continue
        previous.fd = fd
        previous.check_whole(index["archive_sha256"])
        return previous
    return None


def _digest_previous(archive: Path, index: dict[str, Any]) -> PreviousArchive:
    """Reduce the rows of ``index`` to what a copy needs, a batch of rows at a time.

    Members must tile the archive up to the index, and groups must tile the
    members and the rows, or nothing is copied; a row whose member lies
    outside its group makes that group one that is never copied.
    """
    members: list[list[int]] = index["members"]
    groups: list[list[int]] = index["groups"]
    end = 0
    for member in members:
        if len(member) != 5 or not all(type(value) is int and value >= 0 for value in member):
            raise ValueError("a member is not five whole numbers")
        if member[0] != end or member[1] == 0 or member[4] >= 1 << 32:
            raise ValueError("the members do not follow one another")
        end += member[1]
    if end != index["offset"]:
        raise ValueError("the members do not reach the index")
    counted = 0
    for group in groups:
        if len(group) != 4 or not all(type(value) is int and value >= 0 for value in group):
            raise ValueError("a group is not four whole numbers")
        if group[2] != counted:
            raise ValueError("the groups do not cover the members in order")
        counted += group[3]
    if counted != len(members):
        raise ValueError("the groups do not cover the members")

    previous = PreviousArchive(archive, members, groups, {}, [], bytearray(), array("I"))
    rows: list[list[Any]] = []
    taken = 0  # rows of earlier batches
    number = 0  # the group being gathered
    for batch in index["entries"]:
        rows += map(index_row_in, batch)
        while number < len(groups) and groups[number][0] + groups[number][1] <= taken + len(rows):
            first, count, first_member, member_count = groups[number]
            mine = rows[first - taken : first - taken + count]
            if first != len(previous.member_of) or len(mine) != count:
                raise ValueError("the groups do not cover the rows in order")
            fingerprint = _fingerprint(map(_row_fields, mine))
            for row in mine:
                digest = _digest_of(row)
                within = row[6] - first_member if type(row[6]) is int else -1
                if digest is None or not 0 <= within < member_count:
                    fingerprint, digest, within = b"", bytes(32), 0
                previous.digests += digest
                previous.member_of.append(within)
            if fingerprint:
                previous.by_first_name[mine[0][0]] = number
            previous.fingerprints.append(fingerprint)
            number += 1
            done = first + count - taken
            del rows[:done]
            taken += done
    if len(previous.fingerprints) != len(groups) or rows:
        raise ValueError("the groups do not cover the rows")
    return previous


def _digest_of(row: list[Any]) -> bytes | None:
    """A file row's sha256 as 32 bytes (zeros for other rows); None if it is no sha256."""
    if row[1] != "file":
        return bytes(32)
    try:
        digest = bytes.fromhex(row[5])
    except (ValueError, TypeError):
        return None
    return digest if len(digest) == 32 else None


def _row_fields(row: list[Any]) -> str | None:
    """What must be equal for an entry to be copied from a previous row; None: never.

    Fields are joined by NUL, which no name, link or number holds, and each
    kind has a fixed number of them, so the text of a group says one thing.
    """
    kind = row[1]
    if kind == "file":
        return f"file\0{row[0]}\0{row[2]}\0{row[3]}\0{row[4]}\0{row[7]}" if row[7] else None
    if kind == "dir":
        return f"dir\0{row[0]}\0{row[2]}\0{row[3]}\0{row[4]}"
    if kind == "link":
        return f"link\0{row[0]}\0{row[3]}\0{row[5]}"
    return None


def _entry_fields(entry: Entry) -> str | None:
    """:func:`_row_fields` of the row a walk's entry would be written as."""
    if entry.kind == "file":
        e = entry
        return f"file\0{e.name}\0{e.size}\0{e.mtime_ns}\0{e.mode}\0{e.signature}"
    if entry.kind == "dir":
        return f"dir\0{entry.name}\0{0}\0{entry.mtime_ns}\0{entry.mode}"
    if entry.kind == "link":
        return f"link\0{entry.name}\0{entry.mtime_ns}\0{entry.link}"
    return None  # a database is read afresh every time


def _fingerprint(fields: Iterable[str | None]) -> bytes:
    """A digest of a group's rows as a copy compares them; empty if it may not be copied."""
    texts = list(fields)
    if None in texts:
        return b""
    joined = "\0".join(texts)  # type: ignore[arg-type]
    return hashlib.blake2b(joined.encode("utf-8", "surrogateescape"), digest_size=16).digest()


# What a damaged, made-up or too deeply nested checkpoint.json raises while read.
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, RecursionError, isal_zlib.error)


def read_index(archive: Path, fd: int | None = None) -> dict[str, Any] | None:
    """The member index of one of our archives, read from its last member only.

    Its ``entries`` are an iterator of batches of rows, parsed as they are
    taken: the rows of a large project would be most of a create's memory.
    With ``fd``, the archive is read through it rather than opened by name.
    """
    summary = read_sidecar(archive)
    if summary is None or summary.index_offset is None:
        return None
    blocks = _index_text(archive if fd is None else fd, summary.index_offset)
    try:
        head = b""
        opening = -1
        for block in blocks:
            seen = max(0, len(head) - len(_ENTRIES))
            head += block
            opening = head.find(_ENTRIES, seen)
            if opening >= 0 or len(head) > _HEAD_AT_MOST:
                break
        start = opening + len(_ENTRIES)
        try:
            if opening < 0:
                raise ValueError("no entries where this version writes them")
            index = json.loads(head[:start] + b"]}}")["index"]
            index["entries"] = _rows_of(head[start:], blocks)
        except ValueError:  # not the layout written now: read it whole, if it is not huge
            whole = bytearray(head)
            for block in blocks:
                whole += block
                if len(whole) > _HEAD_AT_MOST:
                    raise ValueError("checkpoint.json is too large to read whole") from None
            index = json.loads(whole)["index"]
            index["entries"] = iter([index["entries"]])
    except _UNREADABLE:  # type: ignore[misc]
        return None
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        return None
    index["offset"] = summary.index_offset
    index["archive_sha256"] = summary.archive_sha256
    return index


_ENTRIES = b'"entries":['
_HEAD_AT_MOST = 1 << 26  # bytes of checkpoint.json searched for the entries' start
_ROWS_TEXT = 1 << 20  # bytes of index rows parsed at once
_ROW_AT_MOST = 1 << 22  # a row holds a name and a link target of at most a few KB each


def _index_text(archive: Path | int, offset: int) -> Iterator[bytes]:
    """The text of ``checkpoint.json``, which begins at ``offset``, in blocks."""
    source = os.dup(archive) if isinstance(archive, int) else archive
    with open(source, "rb") as handle:
        handle.seek(offset)
        with igzip.IGzipFile(fileobj=handle) as stream:  # type: ignore[no-untyped-call]
            header = stream.read(BLOCK)
            remaining = int(header[124:136].split(b"\0", 1)[0] or b"0", 8)
            while remaining > 0:
                block = stream.read(min(remaining, _ROWS_TEXT))
                if not block:
                    raise ValueError("checkpoint.json is cut short")
                remaining -= len(block)
                yield block


def _rows_of(pending: bytes, more: Iterator[bytes]) -> Iterator[list[list[Any]]]:
    """Batches of index rows from the text after ``"entries":[``, parsed as they come.

    A batch is cut after the last ``],[`` of about a megabyte and parsed at
    once. Should that cut fall inside a name, the text does not parse (the
    name's string is left open), and the rows are taken one at a time.
    """
    wanted = _ROWS_TEXT
    finished = False
    decoder = json.JSONDecoder()
    while True:
        while not finished and len(pending) < wanted:
            block = next(more, None)
            finished = block is None
            pending += block or b""
        cut = pending.rfind(b"],[")
        if cut >= 0:
            try:
                rows = json.loads(b"[" + pending[: cut + 1] + b"]")
            except ValueError:
                pass
            else:
                yield rows
                pending, wanted = pending[cut + 2 :], _ROWS_TEXT
                continue
        text = pending.decode()
        rows, used, ended = _rows_one_at_a_time(decoder, text)
        if ended:
            yield rows
            return
        if rows:
            yield rows
            pending, wanted = text[used:].encode(), _ROWS_TEXT
        elif finished:
            raise ValueError("the index's rows are cut short")
        elif len(pending) > _ROW_AT_MOST:
            raise ValueError("an index row is longer than any row this version writes")
        else:  # not one whole row yet: take more text
            wanted = len(pending) + _ROWS_TEXT


def _rows_one_at_a_time(decoder: json.JSONDecoder, text: str) -> tuple[list[list[Any]], int, bool]:
    """The whole rows at the start of ``text``, where they end, and whether the array did."""
    rows: list[list[Any]] = []
    at = 0
    while at < len(text):
        if text[at] == "]":
            return rows, at, True
        try:
            row, end = decoder.raw_decode(text, at)
        except ValueError:
            break  # the row is not all here yet
        if end >= len(text):
            break  # what follows it is not here yet
        rows.append(row)
        if text[end] == "]":
            return rows, end, True
        if text[end] != ",":
            raise ValueError("index rows are not separated by commas")
        at = end + 1
    return rows, at, False


class ArchiveWriter:
    """Writes entries as gzip members in order, compressing on a thread pool."""

    def __init__(
        self,
        output: Any,
        previous: PreviousArchive | None,
        progress: ProgressCallback | None,
        sqlite_scratch: Path,
        helped: Path | None = None,
        ready: list[Helper] | None = None,
        rows: Any = None,
    ) -> None:
        self.output = output
        self.previous = previous
        self.report_progress = progress
        self.sqlite_scratch = sqlite_scratch
        # Where a helper process writes the members of its groups; None: no helper.
        self.helped = helped
        self.ready = ready if ready is not None else []  # a helper started already, if any
        self.helper_progress = [0, 0]
        # Index rows of finished groups go to this file (None: they stay here).
        self.rows = rows
        # In a helper, which learns only at the end how many members come
        # before its own, rows are spooled with a NUL where the member goes,
        # and the members are kept here; see :func:`_unmark`.
        self.marked: array[int] | None = None
        if rows is not None:
            rows.seek(0)
            rows.truncate()
        self.rows_before = 0
        self.files_before = 0
        self.threads = max(1, os.cpu_count() or 1)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="jellycell-compress")
        # Members are written, hashed and recorded in order by one more thread,
        # so that reading and tar work here overlap with the output's cost.
        self.output_thread = ThreadPoolExecutor(1, thread_name_prefix="jellycell-write")
        self.pending: deque[tuple[Future[None], int]] = deque()
        self.in_flight = 0  # bytes the pending members hold, raw or compressed
        self.member_count = 0  # members written or on their way
        self.offset = 0
        self.tar_offset = 0
        self.digest = hashlib.sha256()
        self.members: list[list[int]] = []
        self.groups: list[list[int]] = []
        self.entries: list[list[Any]] = []
        self.changed: list[str] = []
        self.vanished: list[str] = []
        self.reused_bytes = 0
        self.files_done = 0
        self.bytes_done = 0
        self.files_total = 0
        self.bytes_total = 0
        self.last_report = 0.0

    # -- the stream of members -------------------------------------------------

    def close(self, *, cancel: bool = False) -> None:
        """Stop the compressing and writing threads once their work is done (or cancelled)."""
        self.pool.shutdown(wait=True, cancel_futures=cancel)
        self.output_thread.shutdown(wait=True, cancel_futures=cancel)

    def _submit(self, job: Callable[[], tuple[bytes, ...]], tar_length: int, weight: int) -> None:
        """Have ``job`` make a member, written in turn; ``weight``: the bytes it holds meanwhile.

        A few members are always on their way, so that every core has work;
        beyond those, small members (copied ones, mostly) may queue up to
        :data:`IN_FLIGHT` bytes, so that reading them keeps ahead of writing.
        """
        compressed = self.pool.submit(job)
        written = self.output_thread.submit(self._write_member, compressed, tar_length)
        self.pending.append((written, weight))
        self.in_flight += weight
        self.member_count += 1
        while len(self.pending) > _QUEUED_AT_MOST or (
            len(self.pending) > 2 * self.threads + 2 and self.in_flight > IN_FLIGHT
        ):
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        written, weight = self.pending.popleft()
        self.in_flight -= weight
        written.result()

    def _write_member(self, compressed: Future[tuple[bytes, ...]], tar_length: int) -> None:
        length = crc = 0
        for part in compressed.result():
            self.output.write(part)
            self.digest.update(part)
            crc = isal_zlib.crc32(part, crc)  # ISA-L's CRC-32: zlib's, four times as fast
            length += len(part)
        self.members.append([self.offset, length, self.tar_offset, tar_length, crc])
        self.offset += length
        self.tar_offset += tar_length

    def _drain(self) -> None:
        while self.pending:
            self._wait_oldest()

    def _compress(self, raw: bytes | bytearray, *, one_file: bool = False) -> None:
        self._submit(partial(compress_member, raw, one_file=one_file), len(raw), len(raw))

    # -- entries -----------------------------------------------------------------

    def write_entries(self, walked: Walked) -> None:
        """Write every entry, grouping small ones and cutting large ones into pieces.

        When there is much to do, a helper process writes the last groups
        meanwhile, and its members are appended after these.
        """
        self.write_groups(walked, list(_groups(walked)))

    def write_groups(self, walked: Walked, groups: list[Span]) -> None:
        """Write entries cut into groups already; see :meth:`write_entries`."""
        self.files_total = len(walked)
        self.bytes_total = walked.total_bytes
        # Which group of the previous checkpoint each group may be a copy of.
        reusable = [self._candidate(walked, group) for group in groups]
        split = self._helper_split(walked, groups, reusable)
        helper = None
        try:
            if split < len(groups):
                helper = self._start_helper(walked, groups[split:])
            for (start, stop, _), found in zip(groups[:split], reusable, strict=False):
                self._write_group(walked.entries(start, stop), found)
            self._drain()
            if helper is not None:
                helper.tell(len(self.members))  # so that it numbers its rows' members
                answer = helper.answer()
                if answer[0] == "ok":
                    self._append_helped(answer[1])
                else:
                    self._helper_failed(answer)
                    for (start, stop, _), found in zip(
                        groups[split:], reusable[split:], strict=True
                    ):
                        self._write_group(walked.entries(start, stop), found)
                    self._drain()
        except BaseException:

            def stop_compressing() -> None:
                self.close(cancel=True)

            despite_interrupts(stop_compressing)
            raise
        finally:
            despite_interrupts(partial(self._stop_helpers, helper))

    def _stop_helpers(self, helper: Helper | None) -> None:
        """Stop the helpers, whether they were needed or not, and remove their files."""
        for spare in self.ready:
            spare.stop()
        self.ready.clear()
        if helper is not None:
            helper.stop()
            helped = str(self.helped)
            for leftover in (
                helped,
                f"{helped}-index",
                f"{helped}-index-marked",
                f"{helped}-sqlite",
                f"{helped}-sqlite-journal",
            ):
                _unlink_if_there(leftover)

    def _write_group(self, group: list[Entry], candidate: int | None) -> None:
        first_entry = self.rows_before + len(self.entries)
        first_member = self.member_count
        if candidate is not None and self._copy_group(group, candidate):
            pass
        elif (
            len(group) == 1
            and group[0].kind in ("file", "sqlite")
            and (group[0].kind == "sqlite" or group[0].size > GROUP_LIMIT)
        ):
            self._write_large(group[0])
        else:
            self._write_small(group)
        members = self.member_count - first_member
        written = self.rows_before + len(self.entries) - first_entry
        if written:
            self.groups.append([first_entry, written, first_member, members])
        self._spool_rows()
        self._tick(force=False)

    def _spool_rows(self) -> None:
        """Move the rows of finished groups to the spool, as JSON; memory stays flat."""
        if self.rows is None or not self.entries:
            return
        if self.marked is not None:
            self._spool_marked()
            return
        for start in range(0, len(self.entries), _ROWS_AT_ONCE):
            batch = self.entries[start : start + _ROWS_AT_ONCE]
            text = json.dumps([index_row_out(row) for row in batch], separators=(",", ":"))
            if self.rows_before:
                self.rows.write(b",")
            self.rows.write(text[1:-1].encode())
            self.rows_before += len(batch)
            self.files_before += sum(1 for row in batch if row[1] != "dir")
        self.entries.clear()

    def _spool_marked(self) -> None:
        """Spool rows as JSON with a NUL for each member number, which is kept aside.

        JSON text never holds a raw NUL (control characters are escaped), so
        the marks are unambiguous; the text is what ``json.dumps`` writes.
        """
        assert self.rows is not None and self.marked is not None
        text = encode_basestring_ascii
        parts = []
        for row in map(index_row_out, self.entries):
            parts.append(
                f"[{text(row[0])},{text(row[1])},{row[2]},{row[3]},{row[4]},{text(row[5])},"
                f"\0,{text(row[7])}]"
            )
            self.marked.append(row[6])
        if self.rows_before:
            self.rows.write(b",")
        self.rows.write(",".join(parts).encode())
        self.rows_before += len(self.entries)
        self.files_before += sum(1 for row in self.entries if row[1] != "dir")
        self.entries.clear()

    # -- a helper process for the last groups ---------------------------------------

    def _helper_split(self, walked: Walked, groups: list[Span], reusable: list[int | None]) -> int:
        """Where the helper's groups begin (``len(groups)`` for no helper), by estimated cost."""
        if self.helped is None or (os.cpu_count() or 1) < 2:
            return len(groups)
        costs = []
        per_file = 0.0
        for (start, stop, size), found in zip(groups, reusable, strict=True):
            count = stop - start
            if found is not None:
                costs.append(count * _COST_PER_REUSED)
            else:
                costs.append(count * _COST_PER_FILE + size * _COST_PER_BYTE)
                per_file += count * _COST_PER_FILE
        # Bytes are compressed on every core already; what a helper takes off
        # this process is the work done file by file, in Python.
        if per_file < HELPER_FROM:
            return len(groups)
        total = sum(costs)
        # This process does its groups, then appends the helper's; the helper
        # starts later. Both should finish together.
        mine = (total + _HELPER_START) / 2
        spent = 0.0
        for number, cost in enumerate(costs):
            if spent >= mine:
                return number
            spent += cost
        return len(groups)

    def _start_helper(self, walked: Walked, groups: list[Span]) -> Helper:
        shared = (walked.fd,) if self.previous is None else (walked.fd, self.previous.fd)
        helper = self.ready.pop() if self.ready else Helper(PACKER, pass_fds=shared)
        self.helper_progress = helper.progress
        helper.send(
            {
                "rows": f"{self.helped}-index",
                "walked": walked,
                "groups": groups,
                "previous": self.previous,
                "output": str(self.helped),
                "sqlite_scratch": f"{self.helped}-sqlite",
            },
            more_to_come=True,
        )
        return helper

    def _append_helped(self, result: dict[str, Any]) -> None:
        """Append the helper's members and its index rows, shifted to follow ours."""
        assert self.helped is not None and self.rows is not None
        self._spool_rows()
        member_shift, entry_shift = len(self.members), self.rows_before
        with open(self.helped, "rb") as helped:
            length = 0
            while block := helped.read(1 << 20):
                self.output.write(block)
                self.digest.update(block)
                length += len(block)
        if length != result["offset"]:
            raise CheckpointError("a helper process wrote less than it said; try again")
        for offset, size, tar_offset, tar_length, crc in result["members"]:
            self.members.append(
                [offset + self.offset, size, tar_offset + self.tar_offset, tar_length, crc]
            )
        self.member_count = len(self.members)
        self.offset += result["offset"]
        self.tar_offset += result["tar_offset"]
        for first_entry, count, first_member, members in result["groups"]:
            self.groups.append(
                [first_entry + entry_shift, count, first_member + member_shift, members]
            )
        if result["rows"]:
            with open(f"{self.helped}-index", "rb") as rows:
                if self.rows_before:
                    self.rows.write(b",")
                while block := rows.read(1 << 20):
                    self.rows.write(block)
            self.rows_before += result["rows"]
            self.files_before += result["row_files"]
        self.changed += result["changed"]
        self.vanished += result["vanished"]
        self.reused_bytes += result["reused_bytes"]
        self.files_done += result["files_done"]
        self.bytes_done += result["bytes_done"]
        self.helper_progress[:] = [0, 0]

    def _helper_failed(self, answer: tuple[str, Any]) -> None:
        """Raise what the helper met in the project; otherwise do its groups here."""
        status, data = answer
        if status == "refused":
            message, kind = data
            raise CheckpointError(message, kind)
        if status == "oserror":
            number, text, filename = data
            raise OSError(number, text, filename)
        log.debug("writing the last groups here: %s", data)

    def _candidate(self, walked: Walked, span: Span) -> int | None:
        """The previous checkpoint's group a group may be a copy of, by first name and size."""
        previous = self.previous
        if previous is None:
            return None
        number = previous.by_first_name.get(walked.entries(span[0], span[0] + 1)[0].name)
        if number is None or previous.groups[number][1] != span[1] - span[0]:
            return None
        return number

    def _copy_group(self, group: list[Entry], number: int) -> bool:
        """Copy a group unchanged since the previous checkpoint, compressed, from it.

        Return False, copying nothing, if the group changed after all.
        """
        assert self.previous is not None
        previous = self.previous
        if _fingerprint(map(_entry_fields, group)) != previous.fingerprints[number]:
            return False
        first, _, old_first_member, members = previous.groups[number]
        first_member = self.member_count
        digests, member_of = previous.digests, previous.member_of
        for at, entry in enumerate(group, start=first):
            member = first_member + member_of[at]
            if entry.kind == "file":
                digest = digests[32 * at : 32 * at + 32].hex()
                row = [entry.name, "file", entry.size, entry.mtime_ns, entry.mode, digest]
                self.entries.append([*row, member, entry.signature])
            elif entry.kind == "dir":
                self.entries.append(
                    [entry.name, "dir", 0, entry.mtime_ns, entry.mode, "", member, ""]
                )
            else:
                row = [entry.name, "link", 0, entry.mtime_ns, 0o777, entry.link, member, ""]
                self.entries.append(row)
        fd = previous.fd
        for offset, length, _, tar_length, crc in previous.members[
            old_first_member : old_first_member + members
        ]:
            self._submit(partial(_read_exactly, fd, offset, length, crc), tar_length, length)
            self.reused_bytes += length
        self.files_done += len(group)
        self.bytes_done += sum(entry.size for entry in group)
        return True

    def _write_small(self, group: list[Entry]) -> None:
        raw = bytearray()
        for entry in group:
            member = self.member_count
            if entry.kind == "dir":
                raw += header(entry.name + "/", DIRECTORY, 0, entry.mtime_ns // 10**9, entry.mode)
                self.entries.append(
                    [entry.name, "dir", 0, entry.mtime_ns, entry.mode, "", member, ""]
                )
            elif entry.kind == "link":
                raw += header(entry.name, SYMLINK, 0, entry.mtime_ns // 10**9, 0o777, entry.link)
                row = [entry.name, "link", 0, entry.mtime_ns, 0o777, entry.link, member, ""]
                self.entries.append(row)
            else:
                data = self._read_small(entry)
                if data is None:
                    continue
                raw += header(entry.name, REGULAR, len(data), entry.mtime_ns // 10**9, entry.mode)
                raw += data
                raw += bytes(padding(len(data)))
                digest = hashlib.sha256(data).hexdigest()
                self.entries.append(
                    [
                        entry.name,
                        "file",
                        len(data),
                        entry.mtime_ns,
                        entry.mode,
                        digest,
                        member,
                        entry.signature,
                    ]
                )
                self.bytes_done += entry.size
            self.files_done += 1
        if raw:
            self._compress(raw)

    def _read_small(self, entry: Entry) -> bytes | None:
        """A file's bytes as they stood at one moment, re-read if it changed meanwhile.

        Plain system calls: for thousands of small files, a file object per
        file costs more than reading them. Usually the file is still the one
        the walk saw, unchanged (same inode, change time, time and size after
        the read), and one read is all it takes.
        """
        read = self._read_once(entry, careful=False)
        if read is None:
            return None
        _, data, after = read
        if (
            len(data) == entry.size == after.st_size
            and after.st_mtime_ns == entry.mtime_ns
            and entry.signature
            and entry.signature == f"{after.st_ino}:{after.st_ctime_ns}"
        ):
            return data
        return self._read_carefully(entry)

    def _read_carefully(self, entry: Entry) -> bytes | None:
        for attempt in range(READ_ATTEMPTS):
            read = self._read_once(entry, careful=True)
            if read is None:
                return None
            before, data, after = read
            stable = _moment(before) == _moment(after)
            if stable and len(data) == after.st_size:
                break
            log.debug("%s changed while read (attempt %d)", entry.path, attempt + 1)
        now = f"{after.st_ino}:{after.st_ctime_ns}"
        walked = (entry.size, entry.mtime_ns, entry.signature or now)
        if not stable or (after.st_size, after.st_mtime_ns, now) != walked:
            # Changed since the walk: named, and recorded as the state that was read.
            self.changed.append(entry.name)
            entry.mtime_ns = after.st_mtime_ns
            entry.signature = now if stable else ""
        return data

    def _read_once(
        self, entry: Entry, *, careful: bool
    ) -> tuple[os.stat_result, bytes, os.stat_result] | None:
        """Open, (stat,) read and stat one file; ``None`` if it vanished meanwhile.

        Careful: stat before reading too, and read until the end whatever the
        file's size; otherwise one read of the size the walk saw (and one more
        byte, to notice growth).
        """
        try:
            fd = _open_unfollowed(entry.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                before = os.fstat(fd) if careful else None
                size = before.st_size if before is not None else entry.size
                data = _read_to_end(fd, size, at_once=not careful)
                after = os.fstat(fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            self.vanished.append(entry.name)
            return None
        except OSError as error:
            raise _unreadable(entry, error) from None
        return before or after, data, after

    def _write_large(self, entry: Entry) -> None:
        """Stream a large file (or a SQLite database) as pieces; retry it if it changes.

        A database nobody has open (no ``-wal``, ``-shm`` or ``-journal`` beside
        it) is read as the file it is, holding the read lock SQLite's own
        readers take, so no writer can change it meanwhile: opening it through
        SQLite, even to read, makes and removes those files, which changes its
        folder's time in the live project and every later archive's bytes. One
        in use, or whose lock a writer holds, is copied through SQLite's online
        backup.
        """
        source = entry.path
        idle = entry.kind == "sqlite" and not _database_in_use(entry.path)
        # This process's own SQLite locks would go with any file it opens and
        # closes there (POSIX record locks are per process): SQLite it is, then.
        idle = idle and not locked_by_this_process(entry.path, unknown=True)
        if entry.kind == "sqlite" and not idle:
            source = self._sqlite_backup(entry)
        try:
            for attempt in range(READ_ATTEMPTS):
                self._drain()
                mark = (self.offset, self.tar_offset, len(self.members), len(self.entries))
                outcome = self._stream_file(entry, source, locked=idle)
                if outcome == "busy":  # a writer holds the database: copy it through SQLite
                    idle = False
                    source = self._sqlite_backup(entry, in_use=True)
                    outcome = self._stream_file(entry, source)
                if outcome != "changed" or attempt == READ_ATTEMPTS - 1:
                    break
                if idle and (_database_in_use(entry.path) or attempt == READ_ATTEMPTS - 2):
                    # Opened meanwhile (a WAL checkpoint writes without that
                    # lock), or it will not hold still: the last reading is
                    # through SQLite, which only ever copies a committed state.
                    idle = False
                    source = self._sqlite_backup(entry, in_use=True)
                # Rewind the output to where this file began and read it again.
                self._drain()
                self.output.seek(mark[0])
                self.output.truncate()
                self.offset, self.tar_offset = mark[0], mark[1]
                del self.members[mark[2] :]
                self.member_count = mark[2]
                del self.entries[mark[3] :]
                self.digest = _rehash(self.output, mark[0])
            # Named even when a later read was steady: the file changed while archived.
            if attempt or outcome in ("changed", "since-walk"):
                self.changed.append(entry.name)
        finally:
            if source != entry.path:
                with contextlib.suppress(OSError):
                    os.unlink(source)

    def _stream_file(self, entry: Entry, source: str, *, locked: bool = False) -> str:
        """Write one file as pieces; say how it went.

        ``ok``; ``changed`` while read (to be read again); ``since-walk``:
        steady while read but not as the walk saw it, and recorded as read;
        ``vanished``; or, with ``locked`` (a SQLite database read as a file),
        ``busy`` when a writer holds its lock.
        """
        try:
            # Unbuffered: each piece is read straight into the buffer it is compressed from.
            handle = open(source, "rb", buffering=0, opener=_open_unfollowed)  # noqa: SIM115
        except FileNotFoundError:
            self.vanished.append(entry.name)
            return "vanished"
        except OSError as error:
            raise _unreadable(entry, error) from None
        try:
            if locked and not _sqlite_read_lock(handle.fileno()):
                return "busy"
            before = os.fstat(handle.fileno())
            size = before.st_size
            member = self.member_count
            digest = hashlib.sha256()
            direct = entry.kind == "file" or source == entry.path  # not a backup's copy
            mtime_ns = before.st_mtime_ns if direct else entry.mtime_ns
            opening = header(entry.name, REGULAR, size, mtime_ns // 10**9, entry.mode)
            remaining = size
            while True:
                # A piece holds the header (in the first), the file's next bytes
                # and the padding (in the last), up to PIECE bytes before padding.
                want = min(remaining, PIECE - len(opening))
                last = want == remaining
                piece = bytearray(len(opening) + want + (padding(size) if last else 0))
                piece[: len(opening)] = opening
                with memoryview(piece) as view:
                    data = view[len(opening) : len(opening) + want]
                    _read_into(handle, data)  # short if the file shrank: zeros stay
                    digest.update(data)
                    data.release()
                remaining -= want
                self.bytes_done += want
                self._compress(piece, one_file=True)
                if last:
                    break
                opening = b""
                self._tick(force=False)
            after = os.fstat(handle.fileno())
            grew = handle.read(1) != b""
        except OSError as error:
            raise _unreadable(entry, error) from None
        finally:
            handle.close()  # and with it any lock taken on it
        signature = f"{before.st_ino}:{before.st_ctime_ns}" if direct else ""
        self.entries.append(
            [entry.name, "file", size, mtime_ns, entry.mode, digest.hexdigest(), member, signature]
        )
        self.files_done += 1
        if direct and (_moment(before) != _moment(after) or grew):
            self.entries[-1][7] = ""
            return "changed"
        if direct and (size, mtime_ns, signature) != (entry.size, entry.mtime_ns, entry.signature):
            return "since-walk"
        return "ok"

    def _sqlite_backup(self, entry: Entry, *, in_use: bool = False) -> str:
        """A consistent copy of a live SQLite database, through SQLite's online backup."""
        scratch = str(self.sqlite_scratch)
        try:
            # With no companion files, nobody has the database open: a connection
            # that may write then also removes the -wal and -shm it makes, as
            # the last user of a database does, so the files are left as found.
            busy = in_use or _database_in_use(entry.path)
            try:
                _backup_database(entry.path, "ro" if busy else "rw", scratch)
            except sqlite3.Error as error:
                if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_READONLY:
                    raise
                # A writer died mid-transaction, leaving a hot journal that only a
                # connection allowed to write may roll back, as the next user
                # would. It is rolled back in copies, not in the live project.
                hot = f"{scratch}-hot"
                shutil.copyfile(entry.path, hot)
                with contextlib.suppress(FileNotFoundError):  # recovered meanwhile
                    shutil.copyfile(f"{entry.path}-journal", f"{hot}-journal")
                _backup_database(hot, "rw", scratch)
        except BaseException as error:
            for leftover in (scratch, f"{scratch}-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
            if not isinstance(error, sqlite3.Error):
                raise
            if error.sqlite_errorcode == sqlite3.SQLITE_FULL:
                # Not the bytes instead: they would miss what the database's -wal holds.
                full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(scratch).parent))
                raise os_error(full, Path(scratch).parent) from None
            log.warning("online backup of %s failed (%s); copying its bytes", entry.path, error)
            return entry.path
        finally:
            for leftover in (f"{scratch}-hot", f"{scratch}-hot-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
        return scratch

    # -- the end ---------------------------------------------------------------

    def finish(
        self, project: Project, now: datetime, message: str | None, scan: Any
    ) -> CheckpointSummary:
        """Write ``checkpoint.json`` and the end of the archive; return the sidecar summary."""
        self.close()
        self._tick(force=True)
        self._spool_rows()
        files = self.files_before + sum(1 for row in self.entries if row[1] != "dir")
        skipped = [item.model_dump() for item in scan.skipped]
        skipped += [{"path": name, "reason": "vanished while archiving"} for name in self.vanished]
        summary: dict[str, Any] = {
            "schema_version": 1,
            "created_at": now.isoformat(timespec="seconds"),
            "project_name": project.name,
            "message": message,
            "files": files,
            "archive_sha256": None,
            "index_offset": self.offset,
            "skipped": [{key: _readable(text) for key, text in item.items()} for item in skipped],
            "changed": [_readable(name) for name in self.changed],
            "index": {
                "format": INDEX_FORMAT,
                "members": self.members,
                "groups": self.groups,
                "entries": [],  # streamed from the spool
            },
        }
        tail_length = self._tail(summary, now)
        return CheckpointSummary(
            created_at=summary["created_at"],
            project_name=project.name,
            message=message,
            files=files,
            size_bytes=self.offset + tail_length,
            archive_sha256=self.digest.hexdigest(),
            index_offset=self.offset,
            skipped=summary["skipped"],
            changed=summary["changed"],
        )

    def _tail(self, summary: dict[str, Any], now: datetime) -> int:
        """Write ``checkpoint.json`` and the end-of-archive blocks; return their length.

        The entries of the index are streamed from the spool (the index can be
        tens of megabytes for a large project), so no copy of them is ever
        made. The archive states its own size, which depends on the tail's
        compressed length, so the bytes that state it go last, in a stored
        (uncompressed) gzip member whose length does not depend on them; the
        number is padded with spaces to a fixed width, which JSON allows.
        """
        text = json.dumps(summary, separators=(",", ":")).encode()
        opening = text[: -len(b"]}}")]  # up to the entries' opening bracket
        assert self.rows is not None and not self.entries  # finish spooled every row
        rows_length = self.rows.tell()
        closing_length = _SIZE_WIDTH + 1
        ending = b']},"size_bytes":'  # the entries and the index close; the size follows
        total = len(opening) + rows_length + len(ending) + closing_length
        packer = isal_zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
        written = 0

        def emit(data: bytes) -> None:
            nonlocal written
            if data:
                self.output.write(data)
                self.digest.update(data)
                written += len(data)

        emit(
            packer.compress(header("checkpoint.json", REGULAR, total, int(now.timestamp()), 0o644))
        )
        emit(packer.compress(opening))
        self.rows.seek(0)
        while block := self.rows.read(1 << 20):
            emit(packer.compress(block))
        emit(packer.compress(ending))
        emit(packer.flush())
        rest_length = closing_length + padding(total) + len(END_OF_ARCHIVE)
        stored_length = len(stored_member(bytes(rest_length)))
        size = self.offset + written + stored_length
        closing = str(size).rjust(_SIZE_WIDTH).encode() + b"}"
        emit(stored_member(closing + bytes(padding(total)) + END_OF_ARCHIVE))
        return written

    def _tick(self, *, force: bool) -> None:
        if self.report_progress is None:
            return
        moment = time.monotonic()
        if not force and moment - self.last_report < 0.1:
            return
        self.last_report = moment
        files, done = self.helper_progress
        self.report_progress(
            Progress(
                "archive",
                self.files_done + files,
                self.files_total,
                self.bytes_done + done,
                self.bytes_total,
            )
        )


def _groups(walked: Walked) -> Iterator[Span]:
    """Cut entries into groups whose borders depend on names, so they survive edits."""
    start = size = 0
    for chunk_number in range(len(walked.chunks)):
        chunk = walked.chunk(chunk_number)
        first = chunk_number * walked.chunk_size
        kinds, sizes, begin = chunk.kinds, chunk.sizes, 0
        with memoryview(chunk.names) as names:
            for number, end in enumerate(chunk.ends):
                kind, content = kinds[number], sizes[number]
                if kind == SQLITE or (kind == FILE and content > GROUP_LIMIT):
                    if start < first + number:
                        yield start, first + number, size
                    yield first + number, first + number + 1, content
                    start, size, begin = first + number + 1, 0, end
                    continue
                size += content
                # Headers count towards a group's fill, not towards its content.
                filled = size + BLOCK * (first + number + 1 - start)
                if filled >= GROUP_LIMIT or zlib.crc32(names[begin:end]) % GROUP_SPREAD == 0:
                    yield start, first + number + 1, size
                    start, size = first + number + 1, 0
                begin = end
    if start < walked.count:
        yield start, walked.count, size


def _readable(text: str) -> str:
    """``text`` for a report: bytes of a name that are not UTF-8 shown as ``\\xff``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _open_unfollowed(path: str, flags: int) -> int:
    """Open a file the walk found; one replaced by a link since then counts as vanished.

    Following the link could read a file outside the project into the archive.
    """
    try:
        return os.open(path, flags | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise FileNotFoundError(errno.ENOENT, "replaced by a link while archived", path) from None


def _moment(found: os.stat_result) -> tuple[int, int, int]:
    """What tells one state of a file from the next: its size and both its times.

    The change time matters too: a program that rewrites a file in place and
    then sets its modification time back (``rsync --inplace -t``, ``cp -p``)
    cannot set the change time back.
    """
    return found.st_size, found.st_mtime_ns, found.st_ctime_ns


def _read_into(handle: Any, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``handle`` unless the file ends first; the bytes read."""
    filled = 0
    while filled < len(buffer):
        count = handle.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    return filled


def _read_to_end(fd: int, expected: int, *, at_once: bool = False) -> bytes:
    """Everything left in ``fd``, which is expected to hold ``expected`` bytes.

    ``at_once``: a read that returns less than asked for ends it, as it does for
    a regular file on a local disk (a caller checks the length against fstat).
    """
    pieces = [os.read(fd, expected + 1)]
    if at_once and len(pieces[0]) <= expected:
        return pieces[0]
    while pieces[-1]:
        pieces.append(os.read(fd, max(expected, 1 << 16)))
    return pieces[0] if len(pieces) == 2 else b"".join(pieces)


def _sqlite_read_lock(fd: int) -> bool:
    """Take the read lock SQLite's readers take on a database; False if a writer holds it.

    SQLite locks byte ranges far beyond any data (see its ``os_unix.c``): a
    reader holds a shared lock on the shared range, which a writer needs
    exclusively before it changes the file, and it does not start one while a
    writer waits (holds the pending byte). The lock goes when the file is closed.
    """
    pending, shared_first, shared_size = 0x40000000, 0x40000002, 510
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, pending)
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, shared_size, shared_first)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, pending)
    except OSError:
        return False
    return True


def _database_in_use(path: str) -> bool:
    """Whether a SQLite database has companions: a connection, or a transaction to recover."""
    return any(os.path.exists(path + suffix) for suffix in SQLITE_COMPANIONS)


def _backup_database(path: str, mode: str, scratch: str) -> None:
    """Copy the database at ``path`` into ``scratch`` with SQLite's online backup."""
    for leftover in (scratch, f"{scratch}-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)
    deadline = time.monotonic() + SQLITE_PATIENCE

    def patience(status: int, remaining: int, total: int) -> None:
        # SQLite's backup retries a locked database forever; give up, clearly, instead.
        if time.monotonic() > deadline:
            raise CheckpointError(
                f"the SQLite database {path} stayed locked by another program for "
                f"{SQLITE_PATIENCE:.0f} s; let it finish writing (or close it), then try again",
                "conflict",
            )

    source = sqlite3.connect(f"{Path(path).as_uri()}?mode={mode}", uri=True, timeout=5)
    try:
        target = sqlite3.connect(scratch)
        try:
            source.backup(target, progress=patience)
        finally:
            target.close()
    finally:
        source.close()


class StalePrevious(Exception):
    """Bytes to be copied from the previous archive are not those its index recorded."""


def _read_exactly(fd: int, offset: int, length: int, crc: int) -> tuple[bytes]:
    """One compressed member of the previous archive, checked against its recorded CRC.

    It is read from the file the index came from and whose sha256 is taken,
    even if another file has taken its name meanwhile.
    """
    try:
        data = os.pread(fd, length, offset)
    except OSError as error:
        raise StalePrevious(f"the previous archive cannot be read ({error.strerror})") from None
    if len(data) != length or isal_zlib.crc32(data) != crc:
        raise StalePrevious(f"member at {offset} differs from its index")
    return (data,)


def _rehash(output: Any, length: int) -> Any:
    """The archive digest of the first ``length`` bytes written, after a rewind."""
    digest = hashlib.sha256()
    output.flush()
    with open(output.name, "rb") as again:
        remaining = length
        while remaining:
            block = again.read(min(remaining, 1 << 20))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    output.seek(length)
    return digest


def _unreadable(entry: Entry, error: OSError) -> CheckpointError:
    if error.errno in {28, 122}:  # ENOSPC, EDQUOT
        return os_error(error, Path(entry.path))
    return CheckpointError(
        f"cannot read {entry.name}: {error.strerror}; fix its permissions or move it "
        "out of the project, then try again",
        "environment",
    )


def _unmark(marked: Any, members: array[int], shift: int, rows: Any) -> None:
    """Copy spooled rows from ``marked`` to ``rows``, each NUL made its member plus ``shift``."""
    numbers = iter(members)
    rest = b""
    while block := marked.read(1 << 20):
        pieces = (rest + block).split(b"\0")
        rest = pieces.pop()
        filled = []
        for piece in pieces:
            filled.append(piece)
            filled.append(b"%d" % (next(numbers) + shift))
        rows.write(b"".join(filled))
    rows.write(rest)
    if next(numbers, None) is not None:
        raise CheckpointError("a helper process lost index rows; try again")


def write_helped(
    request: dict[str, Any], report: Callable[[int, int], None], more: Callable[[], Any]
) -> tuple[str, Any]:
    """A helper's part of a create: the groups of ``request``, into files of their own.

    The members go to ``output``; the index rows, once the creating process
    has said how many members come before these, to ``rows`` as JSON.
    """
    walked: Walked = request["walked"]
    groups: list[Span] = request["groups"]

    def progress(step: Progress) -> None:
        report(step.files_done, step.bytes_done)

    scratch = Path(request["sqlite_scratch"])
    marked_path = f"{request['rows']}-marked"
    try:
        with open(request["output"], "wb") as output, open(marked_path, "w+b") as marked:
            writer = ArchiveWriter(output, request["previous"], progress, scratch, rows=marked)
            writer.marked = array("q")
            try:
                writer.write_groups(walked, groups)
            except StalePrevious:
                output.seek(0)
                output.truncate()
                writer = ArchiveWriter(output, None, progress, scratch, rows=marked)
                writer.marked = array("q")
                writer.write_groups(walked, groups)
            writer.close()
            writer._spool_rows()
            first_member = more()
            assert writer.marked is not None
            with open(request["rows"], "wb") as rows:
                marked.seek(0)
                _unmark(marked, writer.marked, first_member, rows)
    except CheckpointError as error:
        return ("refused", (error.message, error.kind))
    except OSError as error:
        return ("oserror", (error.errno, error.strerror, error.filename))
    except EOFError:
        return ("unavailable", "the creating process stopped")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marked_path)
    return (
        "ok",
        {
            "members": writer.members,
            "groups": writer.groups,
            "rows": writer.rows_before,
            "row_files": writer.files_before,
            "changed": writer.changed,
            "vanished": writer.vanished,
            "reused_bytes": writer.reused_bytes,
            "offset": writer.offset,
            "tar_offset": writer.tar_offset,
            "files_done": writer.files_done,
            "bytes_done": writer.bytes_done,
        },
    )
