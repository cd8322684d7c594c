"""Restoring and verifying checkpoints: every member checked, in one pass or in runs.

A restore extracts into a hidden folder beside the target and moves it into
place only when the whole archive has been read, every member has passed the
safety rules and every file matches the sha256 in the archive's index. Any
failure removes that folder, so a target is either complete or absent.

A large archive of ours is read in runs of its gzip members, by this process
and helper processes at once (see :mod:`.extract`); anything the runs cannot
judge on their own sends the archive back to one pass from the start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

from isal import isal_zlib

from .durable import despite_interrupts, os_error
from .errors import CheckpointError
from .extract import (
    UMASK,
    Extractor,
    GzipStream,
    Outcome,
    Unfit,
    check_links,
    finish_folders,
    make_link,
    read_run,
    unsafe,
)
from .helpers import Helper
from .progress import Phase, Progress, ProgressCallback
from .project import Project
from .reports import (
    ENTRY_COLUMNS,
    INDEX_FORMAT,
    CheckpointIndex,
    CheckpointRestoreReport,
    CheckpointSummary,
    CheckpointVerifyReport,
    index_row_in,
)
from .store import ProjectLike, archive_path, as_project, default_restore_target, read_sidecar
from .tarformat import BLOCK, HeaderError

log = logging.getLogger(__name__)

# An archive this large (in compressed bytes, or in files) is read by several
# processes at once, each taking a run of its gzip members; below it, starting
# them costs more than they save.
PARALLEL_BYTES = 32 << 20
PARALLEL_FILES = 4000
PROCESSES = min(os.cpu_count() or 1, 4)
# Rough costs of reading a run, used to share the work out evenly. Besides
# its own run, the first process reads the index (a cost per entry), hashes
# the whole archive (per compressed byte) and finishes the folders.
_COST_PER_ENTRY = 32e-6
_COST_PER_BYTE = 2e-9
_FIRST_COST_PER_ENTRY = 5e-6
_FIRST_COST_PER_BYTE = 1e-9
_HELPER_START = 0.1  # seconds before a helper process has started reading
_INDEX_START = re.compile(r'"index":\{"format":"[^"]*","members":')
# The mark a restore keeps in its staging folder until it publishes; {} is the
# folder's own random token.
_MARKER = ".jellycell-restoring-{}.lock"
_PRIVATE = os.O_NOFOLLOW | os.O_CLOEXEC
READ_AHEAD = 64 << 20  # the start of checkpoint.json read for a glance at its index
_DISK_FULL = {28, 122, 30}  # ENOSPC, EDQUOT, EROFS: reading again would fail the same way


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
    _sweep_abandoned_staging(target)
    created_parents = _make_parents(target.parent)
    token = secrets.token_hex(4)
    staging = target.parent / f".{target.name}.restoring-{token}"
    marker = _MARKER.format(token)
    held = -1  # the mark's lock, once this restore has made its staging folder

    def remove_staging() -> None:
        if held >= 0:  # never another restore's folder that drew the same token
            shutil.rmtree(staging, ignore_errors=True)
            os.close(held)

    try:
        held = _marked_staging_folder(staging, marker)
        outcome = _extract(source, staging, progress, spare=marker)
        if existing:
            # Marked until merged: a merge killed outright leaves a folder the
            # next restore here removes.
            _merge(staging, target, spare=marker)
        else:
            os.unlink(staging / marker)
            staging.chmod(0o777 & ~UMASK)
            _move_into_place(staging, target)
    except BaseException as error:

        def clean_up() -> None:
            remove_staging()
            for folder in reversed(created_parents):
                with contextlib.suppress(OSError):
                    folder.rmdir()

        despite_interrupts(clean_up)  # a second Ctrl-C must not stop it halfway
        if isinstance(error, OSError):
            if str(error.filename or "").startswith(str(staging)):
                # The hidden staging folder is ours; the user asked about the target.
                error = OSError(error.errno, error.strerror)
            raise os_error(error, target) from None
        raise
    despite_interrupts(remove_staging)  # what a merge left: the emptied folder and its mark

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
    summary: CheckpointSummary | None = outcome.summary
    return summary


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


def _marked_staging_folder(staging: Path, marker: str) -> int:
    """Make the private folder a restore fills, marked as a restore's; return the mark's lock.

    The mark is a file in it, named after the folder's own random token (so no
    archive member can be it), locked while the restore lives and removed just
    before the folder is published. It is locked under another name and then
    renamed, so no sweep (see :func:`_sweep_abandoned_staging`) ever finds it
    unlocked while its restore is alive.
    """
    staging.mkdir(0o700)  # nobody else looks in while it fills
    unnamed = staging / f"{marker}.new"
    try:
        held = os.open(unnamed, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _PRIVATE, 0o600)
        try:
            os.write(held, _mark_text(marker))
            fcntl.flock(held, fcntl.LOCK_EX)
            os.rename(unnamed, staging / marker)
        except BaseException:
            os.close(held)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return held


def _sweep_abandoned_staging(target: Path) -> None:
    """Remove what restores into ``target`` that were killed (``kill -9``) left beside it.

    A folder goes only if a restore made it and no restore is alive in it:
    this target's exact hidden name, a real folder of this user's on the same
    file system as its parent (not a mount), holding the mark a restore
    leaves until it publishes, and nobody holding that mark's lock. Anything
    else is left alone, whatever its name.
    """
    shape = re.compile(rf"\.{re.escape(target.name)}\.restoring-([0-9a-f]{{8}})")
    try:
        parent = os.stat(target.parent)
        found = [(name, shape.fullmatch(name)) for name in os.listdir(target.parent)]
    except OSError:
        return
    for name, match in found:
        if match is None:
            continue
        path = target.parent / name
        try:
            folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _PRIVATE)
        except OSError:
            continue
        mark = -1
        try:
            here = os.fstat(folder)
            if here.st_dev != parent.st_dev or here.st_uid != os.getuid() or _mounts_at(path):
                continue
            mark_name = _MARKER.format(match[1])
            mark = os.open(mark_name, os.O_RDONLY | _PRIVATE, dir_fd=folder)
            marked = os.fstat(mark)
            if not stat.S_ISREG(marked.st_mode) or marked.st_uid != os.getuid():
                continue
            if os.read(mark, 256) != _mark_text(mark_name):
                continue  # not a mark this package wrote
            fcntl.flock(mark, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.lstat(path).st_ino != here.st_ino:
                continue  # another folder took the name meanwhile
            log.warning("removing %s, left by a restore that was killed", path)
            despite_interrupts(partial(_remove_marked, path, mark_name))
        except OSError:
            continue  # no mark (not a restore's, or one publishing), or a restore holds it
        finally:
            os.close(folder)
            if mark >= 0:
                os.close(mark)


def _mark_text(mark: str) -> bytes:
    """What a restore writes in its mark, and what a sweep expects to find there."""
    return f"jellycell-jupyter restoring here: {mark}\n".encode()


def _remove_marked(folder: Path, mark: str) -> None:
    """Remove a marked folder, its mark last, so that what cannot go stays marked."""
    with contextlib.suppress(OSError):
        _empty_folder(folder, mark)
        os.unlink(folder / mark)
        os.rmdir(folder)


def _mounts_at(folder: Path) -> bool:
    """Whether ``folder``, or anything below it, is a mount point (Linux; False elsewhere)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
            lines = table.read().splitlines()
    except OSError:
        return False
    inside = str(folder).rstrip("/") + "/"
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            # Spaces, tabs, newlines and backslashes in mount points are octal escapes.
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
            if (point + "/").startswith(inside):
                return True
    return False


def _empty_folder(folder: Path, spare: str) -> None:
    """Remove everything in ``folder`` but ``spare``, keeping the folder itself."""
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry.name == spare:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


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


def _merge(staging: Path, target: Path, *, spare: str) -> None:
    """Move ``staging`` but its file ``spare`` over ``target``; links there are replaced."""
    _check_merge(staging, target, spare)
    _merge_folder(staging, target, spare)


def _check_merge(source: Path, target: Path, spare: str = "") -> None:
    for entry in os.scandir(source):
        if entry.name == spare:
            continue
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


def _merge_folder(source: Path, target: Path, spare: str = "") -> None:
    for entry in os.scandir(source):
        if entry.name == spare:
            continue
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


def _extract(
    archive: Path,
    destination: Path | None,
    progress: ProgressCallback | None,
    *,
    check_sidecar: bool = True,
    spare: str = "",
) -> Outcome:
    """Read ``archive`` once; write its members under ``destination`` unless it is ``None``.

    ``spare`` names a file of ``destination`` that is no member: it is kept if
    a reading in runs has to be undone.
    """
    sidecar = read_sidecar(archive) if check_sidecar else None
    with open(archive, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if sidecar is not None and sidecar.size_bytes != size:
            raise CheckpointError(
                f"{archive.name} is {size} bytes but its sidecar says {sidecar.size_bytes}; "
                "the archive is damaged or incomplete",
                "damaged",
            )
    processes = PROCESSES
    if (
        sidecar is not None
        and sidecar.index_offset
        and sidecar.archive_sha256
        and processes > 1
        and (size >= PARALLEL_BYTES or sidecar.files >= PARALLEL_FILES)
    ):
        try:
            outcome = _extract_in_runs(archive, destination, progress, sidecar, size, processes)
        except Unfit as why:
            log.debug("reading %s in one pass: %s", archive.name, why)
            if destination is not None:
                _empty_folder(destination, spare)
        else:
            return outcome
    with open(archive, "rb") as handle:
        # The archive's own digest is taken on the inflating thread, beside the
        # work of the reading one: a flipped bit that changes no file (in a gzip
        # header, or in the padding of a deflate block) is damage all the same.
        stream = GzipStream(handle, archive.name)
        files_total = sidecar.files if sidecar else 0
        try:
            outcome = Extractor(
                destination,
                stream,
                progress,
                size,
                files_total,
                read_summary=summary_reader(size),
            ).run()
            stream.finish()
        finally:
            stream.close()
    expected = sidecar.archive_sha256 if sidecar is not None else None
    if expected and stream.digest is not None and stream.digest.hexdigest() != expected:
        raise _mismatch(archive)
    _check_index(archive, outcome)
    return outcome


def summary_reader(archive_size: int) -> Callable[[bytes], CheckpointSummary]:
    """Parse an embedded ``checkpoint.json``; its size, if it lacks one, is the archive's."""

    def read(body: bytes) -> CheckpointSummary:
        try:
            data = json.loads(body)
        except RecursionError:
            raise ValueError("checkpoint.json is nested too deeply") from None
        index = None
        if isinstance(data, dict):
            data.setdefault("size_bytes", archive_size)
            index = data.pop("index", None)
        summary = CheckpointSummary.model_validate(data)
        if index is not None:
            summary.index = _index_of(index)
        return summary

    return read


def _index_of(data: Any) -> CheckpointIndex:
    """The index of an embedded summary, its shape checked by hand.

    A model validation of every cell of every entry takes long for a large
    project; the rows are compared one by one with the archive's members
    afterwards, so only their shape matters here.
    """
    if not isinstance(data, dict) or not isinstance(data.get("format", ""), str):
        raise ValueError("an index that is not an object")
    members, groups, entries = (data.get(key, []) for key in ("members", "groups", "entries"))
    for rows, width in ((members, None), (groups, 4)):
        if not isinstance(rows, list) or not all(
            type(row) is list
            and (width is None or len(row) == width)
            and all(type(cell) is int for cell in row)
            for row in rows
        ):
            raise ValueError("index members or groups that are not rows of numbers")
    if not isinstance(entries, list) or not all(
        type(row) is list and len(row) == len(ENTRY_COLUMNS) for row in entries
    ):
        raise ValueError("index entries that are not rows")
    return CheckpointIndex.model_construct(
        format=data.get("format", INDEX_FORMAT), members=members, groups=groups, entries=entries
    )


def _mismatch(archive: Path) -> CheckpointError:
    return CheckpointError(
        f"{archive.name} does not match the sha256 in its sidecar; the archive is damaged",
        "damaged",
    )


# -- reading in several processes ---------------------------------------------------


def _extract_in_runs(
    archive: Path,
    destination: Path | None,
    progress: ProgressCallback | None,
    sidecar: CheckpointSummary,
    size: int,
    processes: int,
) -> Outcome:
    """Read a large archive of ours in runs of members, one process a run.

    Only an archive whose index shows how its members tile it is read so. Each
    run starts where a group of files starts and must end exactly where the
    next begins, so the runs together read the very stream one pass would.
    Links are made, and folders finished, once every run is in and the runs
    agree with each other. Anything unusual raises :class:`Unfit`, and the
    caller reads the archive in one pass, which judges it precisely.
    """
    index_offset = sidecar.index_offset or 0
    destination_text = str(destination) if destination is not None else None
    workers: list[_Worker] = []
    digest: _Digest | None = None
    try:
        # The processes start while this one finds their work in the index.
        workers = [_Worker() for _ in range(processes - 1)]
        members, groups = _glance_at_index(archive, index_offset)
        runs = _plan_runs(members, groups, index_offset, processes)
        if runs is None:
            raise Unfit("the index does not tile the archive")
        digest = _Digest(archive)
        for worker, run in zip(workers, runs[1:], strict=False):
            worker.send(archive, destination_text, run)
        for spare in workers[len(runs) - 1 :]:
            spare.stop()
        del workers[len(runs) - 1 :]
        # Now, while they work, the index is read properly and checked against
        # the glance that shared the work out.
        tail = _read_tail(archive, destination, size, index_offset)
        index = tail.summary.index if tail.summary is not None else None
        if index is None or index.members != members or index.groups != groups:
            raise Unfit("the index read properly is not the one glanced at")

        def others() -> tuple[int, int]:
            return (
                tail.files + sum(worker.progress[0] for worker in workers),
                size - index_offset + sum(worker.progress[1] for worker in workers),
            )

        try:
            first = read_run(
                str(archive), destination_text, archive.name, runs[0], progress, others
            )
        except (CheckpointError, HeaderError, OSError) as problem:
            if isinstance(problem, OSError) and problem.errno in _DISK_FULL:
                raise
            raise Unfit(str(problem)) from None
        outcomes = [first, *(worker.outcome() for worker in workers), tail]
    finally:
        for worker in workers:
            worker.stop()
        if digest is not None:
            digest.stop()
    outcome = _combine(archive, outcomes, restoring=destination is not None)
    outcome.summary = tail.summary
    if destination is not None:
        for name, link in outcome.links.items():
            make_link(link, os.path.join(destination, name), outcome.link_times[name])
    # Folder times are system calls, the index check is Python: side by side.
    finishing = _Finishing(outcome.folders if destination is not None else [])
    try:
        if digest.hexdigest() != sidecar.archive_sha256:
            raise _mismatch(archive)
        _check_index(archive, outcome, members_checked=True)
    finally:
        finishing.join()
    if progress is not None:
        phase: Phase = "restore" if destination is not None else "verify"
        progress(Progress(phase, outcome.files, outcome.files, size, size))
    return outcome


def _glance_at_index(archive: Path, offset: int) -> tuple[list[list[int]], list[list[int]]]:
    """The members and groups of the index, found quickly in ``checkpoint.json``.

    Only what shares the work out; the whole index is read and checked after.
    """
    try:
        with open(archive, "rb") as handle:
            handle.seek(offset)
            decompressor = isal_zlib.decompressobj(31)
            pieces: list[bytes] = []
            seen = 0
            while seen < READ_AHEAD and not decompressor.eof:
                data = handle.read(1 << 18)
                if not data:
                    break
                pieces.append(decompressor.decompress(data))
                seen += len(pieces[-1])
                if b',"entries":' in pieces[-1] or b',"entries":' in b"".join(pieces[-2:]):
                    break
        body = b"".join(pieces)[BLOCK:].decode("utf-8", "replace")
        found = _INDEX_START.search(body)
        if found is None:
            raise ValueError("no index")
        decoder = json.JSONDecoder()
        members, end = decoder.raw_decode(body, found.end())
        if not body.startswith(',"groups":', end):
            raise ValueError("no groups")
        groups, _ = decoder.raw_decode(body, end + len(',"groups":'))
    except (OSError, ValueError, RecursionError, isal_zlib.error) as problem:  # type: ignore[misc]
        raise Unfit(f"no index at a glance: {problem}") from None
    if not isinstance(members, list) or not isinstance(groups, list):
        raise Unfit("no index at a glance")
    return members, groups


def _read_tail(archive: Path, destination: Path | None, size: int, offset: int) -> Outcome:
    """The members after the index offset: ``checkpoint.json`` and the end of the archive."""
    with open(archive, "rb") as handle:
        handle.seek(offset)
        stream = GzipStream(handle, archive.name, whole_digest=False)
        try:
            outcome = Extractor(
                destination,
                stream,
                None,
                size,
                0,
                read_summary=summary_reader(size),
                part="last",
            ).run()
            stream.finish()
        except (CheckpointError, HeaderError, OSError) as problem:
            if isinstance(problem, OSError) and problem.errno in _DISK_FULL:
                raise
            raise Unfit(str(problem)) from None
        finally:
            stream.close()
    return outcome


def _plan_runs(
    members: list[list[int]], groups: list[list[int]], end: int, processes: int
) -> list[list[list[int]]] | None:
    """Members cut into one run per process, at group borders, by their estimated cost.

    ``None`` unless the index tiles the archive: members one after another from
    byte 0 to ``end``, groups one after another over the members.
    """
    position = 0
    for member in members:
        if len(member) != 5 or member[0] != position or member[1] <= 0:
            return None
        position += member[1]
    if position != end:
        return None
    costs: list[float] = []
    starts: list[int] = []
    next_member = 0
    for group in groups:
        if len(group) != 4 or group[2] != next_member or group[3] < 1:
            return None
        starts.append(next_member)
        next_member += group[3]
        tar_length = sum(member[3] for member in members[group[2] : next_member])
        costs.append(group[1] * _COST_PER_ENTRY + tar_length * _COST_PER_BYTE)
    if next_member != len(members):
        return None
    entries = sum(group[1] for group in groups)
    first_extra = entries * _FIRST_COST_PER_ENTRY + end * _FIRST_COST_PER_BYTE - _HELPER_START
    share = (sum(costs) + first_extra) / processes
    borders = [0]
    spent = first_extra
    for number, cost in enumerate(costs):
        if spent >= share * len(borders) and len(borders) < processes:
            borders.append(starts[number])
        spent += cost
    borders.append(len(members))
    runs = [members[a:b] for a, b in pairwise(borders) if b > a]
    return runs if len(runs) > 1 else None


class _Finishing(threading.Thread):
    """Folder modes and times, given on a thread of their own."""

    def __init__(self, folders: list[tuple[str, int, int, bool]]) -> None:
        super().__init__(daemon=True)
        self.folders = folders
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            finish_folders(self.folders)
        except Exception as error:  # raised on the caller's thread by join
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        """Wait for the folders; raise what went wrong with them."""
        super().join(timeout)
        if self.error is not None:
            raise self.error


class _Digest:
    """The sha256 of a whole file, taken on a thread of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.error: OSError | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with open(self.path, "rb", buffering=0) as handle:
                block = bytearray(1 << 20)
                while not self._stopping.is_set():
                    count = handle.readinto(block)
                    if not count:
                        return
                    self.digest.update(memoryview(block)[:count])
        except OSError as error:
            self.error = error

    def stop(self) -> None:
        """Wait for the end of the file, or stop early if an error is on its way."""
        if sys.exc_info()[0] is not None:
            self._stopping.set()
        self._thread.join()

    def hexdigest(self) -> str:
        """The digest, once :meth:`stop` returned."""
        if self.error is not None:
            raise self.error
        return self.digest.hexdigest()


class _Worker:
    """A helper process reading one run (``python -m jellycell_jupyter.archive.extract``)."""

    def __init__(self) -> None:
        self.helper = Helper("jellycell_jupyter.archive.extract")
        self.progress = self.helper.progress

    def send(self, archive: Path, destination: str | None, members: list[list[int]]) -> None:
        """Ask the process to read ``members`` of ``archive`` (into ``destination``)."""
        self.helper.send(
            {
                "archive": str(archive),
                "destination": destination,
                "label": archive.name,
                "members": members,
            }
        )

    def outcome(self) -> Outcome:
        """Wait for the run's outcome; :class:`Unfit` if it could not be read on its own."""
        status, data = self.helper.answer()
        if status != "ok":
            raise Unfit(str(data))
        files, digests, kinds, links, link_times, folders = data
        return Outcome(files, None, digests, kinds, links, link_times, folders)

    def stop(self) -> None:
        """End the process, at once if it is still running."""
        self.helper.stop()


def _combine(archive: Path, outcomes: list[Outcome], *, restoring: bool = True) -> Outcome:
    """The runs' outcomes as one, if they agree as one pass would have."""
    whole = Outcome()
    kinds = whole.kinds
    for part in outcomes:
        whole.files += part.files
        for name, kind in part.kinds.items():
            before = kinds.get(name)
            if before is None:
                kinds[name] = kind
            elif before != "dir" or kind != "dir":
                raise Unfit(f"{name} is in two runs")
        whole.digests.update(part.digests)
        whole.links.update(part.links)
        whole.link_times.update(part.link_times)
        whole.folders.extend(part.folders)
    if whole.links:
        # Every folder a run wrote through is one of its entries, so a name's
        # own folder is the only one to look at.
        for name in kinds:
            if name.rpartition("/")[0] in whole.links:
                raise Unfit(f"{name} lies under a link")

        check_links(whole.links, partial(unsafe, archive.name, restoring=restoring))
    return whole


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
            if isal_zlib.crc32(os.pread(fd, length, offset)) != crc:
                raise CheckpointError(
                    f"{archive.name}: the gzip member at byte {offset} differs from its index; "
                    "the archive is damaged",
                    "damaged",
                )


def _check_index(archive: Path, outcome: Outcome, *, members_checked: bool = False) -> None:
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
    if not members_checked:
        _check_members(archive, summary.index.members)
