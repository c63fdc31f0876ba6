"""The notebooks run top to bottom in a real Jupyter kernel, as a reader runs them.

Each notebook in notebooks/ is executed with nbclient (the engine of nbconvert and nbmake):
any cell error fails the test with its traceback, and figures are rendered as the notebook
renders them. The kernel starts in a temporary folder, so a notebook writes nothing into the
checkout, and imports the checkout's pricer. Committed notebooks carry no outputs.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# the slowest notebook takes about 10 s here; a cell that hangs fails instead of blocking CI
CELL_TIMEOUT = 600


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_no_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name}: outputs must not be committed"
            assert cell.get("execution_count") is None, f"{path.name}: execution counts committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient", reason="pip install '.[dev]' (nbclient, ipykernel)")
    pytest.importorskip("ipykernel", reason="pip install '.[dev]' (ipykernel)")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    # the kernel imports this checkout's pricer (the code under test, its numba cache already
    # compiled by the other tests), not a copy installed in site-packages
    # and its temporary files (tempfile.mkdtemp in a notebook) go under pytest's tmp_path,
    # which pytest prunes, not into the machine's /tmp
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    client.execute(env=env)  # raises CellExecutionError naming the cell, with its traceback
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert ran and all(c.execution_count for c in ran)


def test_there_is_a_notebook():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "contract_whatif.ipynb",
                                           "percent_of_medicare.ipynb"}
