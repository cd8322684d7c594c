"""How fast a real Jupyter server answers ``/api/status`` while it creates a checkpoint."""

from __future__ import annotations

import http.client
import json
import secrets
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

API = "/jellycell/api/checkpoints"


class StatusPoller(threading.Thread):
    """Requests ``/api/status`` every ``interval`` seconds and records each latency."""

    def __init__(self, port: int, token: str, interval: float = 0.010) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.headers = {"Authorization": f"token {token}"}
        self.interval = interval
        self.latencies: list[float] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stopping.is_set():
            start = time.perf_counter()
            try:
                connection.request("GET", "/api/status", headers=self.headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            elapsed = time.perf_counter() - start
            if ok:
                self.latencies.append(elapsed)
            else:
                self.failures += 1
            self.stopping.wait(max(0.0, self.interval - elapsed))
        connection.close()

    def stop(self) -> None:
        """Stop polling and wait for the thread to finish."""
        self.stopping.set()
        self.join(timeout=60)


def summarize(latencies: list[float], failures: int = 0) -> dict[str, Any]:
    """Count, p50, p99 and max of latencies, in milliseconds."""
    if not latencies:
        return {"requests": 0, "failures": failures}
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "requests": len(ordered),
        "failures": failures,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": p99 * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def extension_problem(python: str, env: dict[str, str]) -> str | None:
    """Why the server extension cannot be loaded yet, or None if it imports and has a loader."""
    probe = (
        "import jellycell_jupyter.server as s; "
        "assert hasattr(s, '_load_jupyter_server_extension'), 'no _load_jupyter_server_extension'"
    )
    result = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(
    port: int, token: str, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    headers = {"Authorization": f"token {token}"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class JupyterServer:
    """A ``jupyter server`` subprocess on a free port, with its own token and config folders."""

    def __init__(self, python: str, root: Path, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        config_dir = Path(env["JUPYTER_CONFIG_DIR"])
        config_dir.mkdir(parents=True, exist_ok=True)
        # Enabled explicitly: an editable install may not have put the sys-prefix config in place.
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"jellycell_jupyter": True}}})
        )
        argv = [
            python,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
        ]
        with open(log, "wb") as output:
            self.process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``/api/status`` until the server answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter server exited with {self.process.returncode}")
            try:
                status, _, _ = _request(self.port, self.token, "GET", "/api/status")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter server did not answer within {timeout:.0f} s")

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one authenticated request; return status, headers and body."""
        return _request(self.port, self.token, method, path, body)

    def stop(self) -> None:
        """Stop the server we started, by its process id."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def status_latency_during_create(
    python: str, root: Path, project: Path, name: str, env: dict[str, str], log: Path
) -> dict[str, Any]:
    """Latency of ``/api/status`` while the server creates a checkpoint of ``project``.

    Returns ``{"skipped": reason}`` when the server extension is not usable, else
    the idle and during-create latency summaries and the create's wall time.
    """
    problem = extension_problem(python, env)
    if problem:
        return {"skipped": f"server extension not importable: {problem}"}

    server = JupyterServer(python, root, env, log)
    try:
        server.wait_ready()
        relative = project.relative_to(root).as_posix()
        query = urllib.parse.urlencode({"project": relative})
        status, _, body = server.request("GET", f"{API}?{query}")
        if status != 200:
            return {
                "skipped": f"GET {API} answered {status}: {body[:200].decode(errors='replace')}"
            }

        idle = StatusPoller(server.port, server.token)
        idle.start()
        time.sleep(1.0)
        idle.stop()

        during = StatusPoller(server.port, server.token)
        during.start()
        start = time.perf_counter()
        status, _, body = server.request("POST", API, {"project": relative, "name": name})
        create_seconds = time.perf_counter() - start
        during.stop()
        if status not in (200, 201):
            return {
                "skipped": f"POST {API} answered {status}: {body[:300].decode(errors='replace')}"
            }
        return {
            "create_seconds": create_seconds,
            "idle": summarize(idle.latencies, idle.failures),
            "during_create": summarize(during.latencies, during.failures),
        }
    finally:
        server.stop()
