"""Every notebook in notebooks/ runs top to bottom; each one's last cell asserts what it teaches.

Notebooks are stored without outputs and executed by nbclient in a fresh kernel, in a temporary
working directory (their runs go there). MNIST notebooks need the real digits: they look where the
platform does (VAE_LAB_DATA_DIR), else in the shared data beside the repository; without MNIST
they are skipped, since nothing may be downloaded here.
"""

import time

import nbformat
import pytest
from conftest import REPO, mnist_dir
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
NEEDS_MNIST = {"03_latent_spaces", "04_posterior_collapse", "06_amortization_gap"}
MINUTES = 3  # each notebook's budget on the 2-core CPU (printed, not asserted: tests never assert timings)


def test_there_are_notebooks_and_they_are_stored_without_outputs():
    assert [path.stem for path in NOTEBOOKS][:6] == [
        "01_latent_variable_model", "02_elbo", "03_latent_spaces", "04_posterior_collapse", "05_tabular_csv",
        "06_amortization_gap",
    ]  # fmt: skip
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), f"{path.name} has stored outputs"
        assert "assert" in code[-1].source, f"{path.name}: the last cell should assert what the notebook teaches"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    if path.stem in NEEDS_MNIST:
        data_dir = mnist_dir()
        if data_dir is None:
            pytest.skip("MNIST not found (set VAE_LAB_DATA_DIR to a folder holding MNIST/raw/*.gz)")
        monkeypatch.setenv("VAE_LAB_DATA_DIR", str(data_dir))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as run_cli: many small processes on few cores
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_SERVICE", raising=False)  # the kernel starts its own wandb-core (conftest.cli_environment)
    notebook = nbformat.read(path, as_version=4)
    # IPC sockets in tmp_path: TCP ports picked free by one kernel can be taken by another test's before it binds
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    client = NotebookClient(notebook, km=kernel, timeout=MINUTES * 60, resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    print(f"{path.name}: {time.perf_counter() - started:.0f} s (budget {MINUTES} min)")
