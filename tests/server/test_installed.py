"""The installed package enables its server extension with no manual step."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jellycell_jupyter

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_extension_is_listed_as_enabled_and_valid(live_server: Any) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter")), "server", "extension", "list"],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = ANSI.sub("", result.stdout + result.stderr)

    assert re.search(r"^\s*jellycell_jupyter enabled\s*$", output, re.MULTILINE), output
    assert re.search(r"^\s*jellycell_jupyter\s.*\bOK\s*$", output, re.MULTILINE), output


def test_a_real_server_answers_the_version_handshake(live_server: Any) -> None:
    status, headers, body = live_server.fetch("GET", "jellycell/api/version")

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["version"] == jellycell_jupyter.__version__


def test_a_real_server_refuses_requests_without_the_token(live_server: Any) -> None:
    status, _, body = live_server.fetch("GET", "jellycell/api/checkpoints?project=demo", auth=False)

    assert status == 403
    assert json.loads(body)["schema_version"] == 1
