"""The panel in a real kernel: its saved output carries the fallbacks, and its thread works."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
KERNEL = "jellycell-panel-test-python"


@pytest.fixture
def kernel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kernelspec running this test's interpreter, and Jupyter/IPython homes of this test."""
    share = tmp_path / "jupyter-path"
    spec = share / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python (panel tests)", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(share))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return share


def execute(folder: Path, *sources: str) -> list[nbformat.NotebookNode]:
    """Run ``sources`` as the cells of a notebook whose kernel works in ``folder``."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=120,
        startup_timeout=120,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    for cell in notebook.cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{cell.source}:\n{errors}"
    return list(notebook.cells)


def test_saved_output_has_the_widget_and_its_html_and_text_fallbacks(
    project: Path, kernel_home: Path
) -> None:
    cells = execute(
        project / "notebooks",
        "import jellycell_jupyter\n"
        "panel = jellycell_jupyter.panel()\n"
        "panel.message_box.value = 'made in a kernel'\n"
        "panel.create_button.click()\n"
        "print(panel.wait(timeout=100), panel.busy)\n"
        "print(panel.result.value)",
        "panel",
    )

    printed = "".join(output.get("text", "") for output in cells[0].outputs)
    assert printed.splitlines()[0] == "True False"
    assert "Created checkpoint" in printed
    (archive_file,) = (project / ".jellycell" / "checkpoints").glob("*.tar.gz")
    name = archive_file.name.removesuffix(".tar.gz")

    (shown,) = [o for o in cells[1].outputs if o.output_type == "execute_result"]
    data = shown["data"]
    assert data[WIDGET_VIEW]["model_id"]
    assert "<table>" in data["text/html"]
    assert f"<code>{name}</code>" in data["text/html"]
    assert "made in a kernel" in data["text/html"]
    assert data["text/plain"].startswith("Checkpoints of project demo")
    assert name in data["text/plain"]
