"""Files that appear whole or not at all, and name reservations between processes."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import CheckpointError


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is over, then act on them as usual.

    For the steps that make a finished checkpoint appear: an interrupt in
    between would leave an archive without its sidecar, or tell the user that
    nothing was made while it was. Only the main thread receives signals.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not None:  # None: set outside Python, left alone
            previous[signum] = signal.signal(signum, lambda received, _: held.append(received))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    for received in dict.fromkeys(held):
        handler = previous[received]
        if callable(handler):
            handler(received, None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(received)


def despite_interrupts(clean_up: Callable[[], None]) -> None:
    """Run ``clean_up`` to its end, Ctrl-C and SIGTERM held meanwhile.

    An interrupt can still land before the signals are held; the clean-up,
    which must be safe to repeat, then starts again. The interrupt that
    caused the clean-up is already on its way up, so a later one adds nothing.
    """
    done = False
    while not done:
        # An interrupt held meanwhile is raised as the hold ends, once done.
        with contextlib.suppress(KeyboardInterrupt), interrupts_held():
            clean_up()
            done = True


def fsync_dir(folder: Path) -> None:
    """Make a rename or link inside ``folder`` survive a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` through a synced temporary file and a rename."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    fsync_dir(path.parent)


def publish_exclusively(partial: Path, final: Path) -> None:
    """Give ``partial`` the name ``final`` unless something already has that name.

    A hard link fails instead of replacing an existing file, which makes the
    link the single moment at which a new archive becomes visible.
    """
    try:
        os.link(partial, final)
    except FileExistsError:
        raise CheckpointError(
            f"{final} already exists; nothing was overwritten. Choose another name",
            "conflict",
        ) from None
    except OSError as error:
        if error.errno not in {errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV}:
            raise
        # A file system without hard links: fall back to a rename after a check,
        # which leaves a tiny window that the reservation lock already covers.
        if final.exists():
            raise CheckpointError(
                f"{final} already exists; nothing was overwritten. Choose another name",
                "conflict",
            ) from None
        os.rename(partial, final)
        return
    os.unlink(partial)


@contextlib.contextmanager
def reservation(lock_path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive, crash-safe claim on ``lock_path`` for the duration of a block.

    The claim is an ``flock`` on the file, so it vanishes with the process that
    held it; a lock file left by a killed process is simply taken over.
    """
    while True:
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise os_error(error, lock_path.parent) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CheckpointError(
                f"{what} is in progress in another process; try again when it has finished",
                "conflict",
            ) from None
        # Another holder may have unlinked the file between our open and our lock.
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def os_error(error: OSError, where: Path) -> CheckpointError:
    """Turn an operating-system error into one line that names the place and the fix."""
    code = error.errno
    place = error.filename or where
    if code == errno.ENOSPC or code == errno.EDQUOT:
        return CheckpointError(
            f"no space left on the disk holding {place}; free some space and try again",
            "environment",
        )
    if code in {errno.EACCES, errno.EPERM, errno.EROFS}:
        return CheckpointError(
            f"permission denied for {place}; make it writable (or readable) and try again",
            "environment",
        )
    reason = error.strerror or str(error)
    return CheckpointError(f"{place}: {reason}", "environment")
