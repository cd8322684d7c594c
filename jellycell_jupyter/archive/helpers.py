"""Helper processes: a large create or restore shares its work with processes of its own.

A helper is ``python -m <module>`` of this package, started with the caller's
interpreter. The caller writes one pickled request on its stdin; the helper
answers on stdout with progress records (``b"P"``, files, bytes) and one
result (``b"R"``, length, a pickled ``(status, data)`` of plain values).
Anything that goes wrong with the process itself (it cannot start, dies, or
answers nonsense) is reported as ``("unavailable", why)``, and the caller
does the work itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_PROGRESS = struct.Struct("<cQQ")
_RESULT = struct.Struct("<cQ")
_HOME = str(Path(__file__).resolve().parents[2])  # where this copy of the package lives

Answer = tuple[str, Any]


class Helper:
    """One helper process, started at once so that it is ready when work comes."""

    def __init__(self, module: str, *, pass_fds: tuple[int, ...] = ()) -> None:
        """Start ``python -m module``; ``pass_fds`` are open files it shares, by number."""
        env = dict(os.environ)
        # The package is found where this copy of it is, whatever the caller's path.
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (_HOME, env.get("PYTHONPATH", "")) if part
        )
        self.progress = [0, 0]
        self._request = b""
        self._keep_open = False
        self._sent = threading.Event()
        self._answer: Answer = ("unavailable", "the helper gave no answer")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self.process = subprocess.Popen(
                # -P: not the current folder first on the path, where a
                # project or a restored checkpoint could shadow any module.
                [sys.executable, "-P", "-m", module],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                close_fds=True,
                pass_fds=pass_fds,
            )
        except OSError as error:
            self._answer = ("unavailable", f"no helper could be started: {error}")

    def send(self, request: Any, *, more_to_come: bool = False) -> None:
        """Hand the helper its work, on a thread that then reads its answer.

        The helper takes its request once it has started, which can take a
        while; the caller goes on with its own work meanwhile. With
        ``more_to_come`` the helper waits, after its work, for :meth:`tell`.
        """
        if self.process is None:
            return
        self._request = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self._keep_open = more_to_come
        self._reader.start()

    def tell(self, message: Any) -> None:
        """The one message a helper waits for after its work (see :meth:`send`)."""
        if self.process is None or self.process.stdin is None:
            return
        self._sent.wait()
        # If it died, writing fails and its answer says why.
        with contextlib.suppress(OSError), self.process.stdin as pipe:
            pipe.write(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(self._request)
            self.process.stdin.flush()
            if not self._keep_open:
                self.process.stdin.close()
        except OSError:
            pass  # it died at once; its answer says so
        finally:
            self._request = b""
            self._sent.set()
        with contextlib.suppress(Exception):
            self._answer = _read_answer(self.process.stdout, self.progress)

    def answer(self) -> Answer:
        """Wait for the helper's answer."""
        if self.process is None:
            return self._answer
        if self._reader.ident is not None:
            self._reader.join()
        self.process.wait()
        if self._answer[0] == "unavailable":
            assert self.process.stderr is not None
            said = self.process.stderr.read().decode(errors="replace").strip()
            if said:
                return ("unavailable", f"{self._answer[1]}: {said.splitlines()[-1]}")
        return self._answer

    def stop(self) -> None:
        """End the process (at once if it is still running) and close its pipes."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self._reader.ident is not None:
            self._reader.join()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):  # what a dead helper never read
                    pipe.close()


def _read_answer(pipe: IO[bytes], progress: list[int]) -> Answer:
    while True:
        kind = pipe.read(1)
        if kind == b"P":
            rest = pipe.read(_PROGRESS.size - 1)
            if len(rest) != _PROGRESS.size - 1:
                break
            _, progress[0], progress[1] = _PROGRESS.unpack(kind + rest)
        elif kind == b"R":
            rest = pipe.read(_RESULT.size - 1)
            if len(rest) != _RESULT.size - 1:
                break
            answer = pickle.loads(pipe.read(_RESULT.unpack(kind + rest)[1]))
            if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], str):
                return answer
            break
        else:
            break
    return ("unavailable", "the helper stopped without an answer")


Work = Callable[[Any, Callable[[int, int], None], Callable[[], Any]], Answer]


def serve(work: Work) -> None:
    """The helper's side: read the request, do ``work``, write its answer.

    ``work`` gets the request, a function to report progress (files, bytes)
    and one that waits for the caller's next message (:meth:`Helper.tell`).
    """
    try:
        request = pickle.load(sys.stdin.buffer)
    except EOFError:
        return  # not needed after all
    out = sys.stdout.buffer

    def report(files: int, done: int) -> None:
        out.write(_PROGRESS.pack(b"P", files, done))
        out.flush()

    def more() -> Any:
        return pickle.load(sys.stdin.buffer)

    body = pickle.dumps(work(request, report, more), protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_RESULT.pack(b"R", len(body)) + body)
    out.flush()
