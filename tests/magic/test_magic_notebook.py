"""A notebook executed headlessly by a real kernel uses the magic from start to finish."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
KERNEL = "jellycell-test-python"


@pytest.fixture
def kernel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kernelspec running this test's interpreter, and Jupyter/IPython homes of this test."""
    share = tmp_path / "jupyter-path"
    spec = share / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (jellycell-jupyter tests)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(share))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return share


def outputs_of(cell: nbformat.NotebookNode) -> list[dict]:
    return [dict(output) for output in cell.get("outputs", [])]


def test_a_notebook_checkpoints_lists_and_restores(
    project: Path, tmp_path: Path, kernel_home: Path
) -> None:
    cells = [
        "%load_ext jellycell_jupyter",
        '%checkpoint -m "from a notebook" --name nb1',
        "r = %checkpoint list\nprint(r.checkpoints[0].name, '|', r.checkpoints[0].message)",
        "%checkpoint list",
        "%checkpoint restore nb1",
        "%checkpoint verify nb1",
        "import os\nprint(sorted(os.listdir('../demo-restored-nb1')))",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=120,
        startup_timeout=120,
        resources={"metadata": {"path": str(project)}},
    )

    client.execute()

    for cell in notebook.cells:
        assert not [o for o in outputs_of(cell) if o["output_type"] == "error"], cell.source
    archive_file = project / ".jellycell" / "checkpoints" / "nb1.tar.gz"
    assert archive_file.is_file()
    restored = tmp_path / "demo-restored-nb1"
    assert (restored / "data" / "table.csv").read_bytes() == (
        project / "data" / "table.csv"
    ).read_bytes()
    assert (restored / "notebooks" / "analysis.py").is_file()

    printed = "".join(o.get("text", "") for o in outputs_of(notebook.cells[2]))
    assert printed.strip() == "nb1 | from a notebook"

    shown = [o for o in outputs_of(notebook.cells[3]) if o["output_type"] == "execute_result"]
    assert len(shown) == 1
    data = shown[0]["data"]
    assert "<table" in data["text/html"]
    assert "nb1" in data["text/html"]
    assert "from a notebook" in data["text/html"]
    assert WIDGET_VIEW in data

    restore_outputs = outputs_of(notebook.cells[4])
    assert any(WIDGET_VIEW in o.get("data", {}) for o in restore_outputs), restore_outputs

    listing = "".join(o.get("text", "") for o in outputs_of(notebook.cells[6]))
    assert "jellycell.toml" in listing
    assert "checkpoint.json" not in listing
