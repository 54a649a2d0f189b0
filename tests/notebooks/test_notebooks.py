"""Every notebook runs offline from top to bottom (nbclient) and shows at least one plot; the
committed notebooks match their builder (notebooks/build_notebooks.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["memory.ipynb", "prompt_optimization.ipynb", "sweeps.ipynb"]


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kernel() -> str:
    """The `python3` kernel of this virtualenv (installed with --sys-prefix if missing)."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if "python3" not in specs or not str(specs["python3"]).startswith(sys.prefix):
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
                       check=True, capture_output=True)
    return "python3"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_matches_its_builder(name):
    import nbformat

    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    built = _builder().build(name)
    assert [c.source for c in committed.cells] == [c.source for c in built.cells], (
        f"{name} is out of date: run python notebooks/build_notebooks.py --execute {name}")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_offline_with_plots(name, kernel, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in notebook.cells:  # run from a clean slate, not the committed outputs
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(notebook, timeout=900, kernel_name=kernel,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()  # raises on any cell error
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name} shows no plot"
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert tables, f"{name} shows no table"
