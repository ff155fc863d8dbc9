"""Shared fixtures: tiny real data files, composed configs and CLI runs."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hypothesis import HealthCheck, settings
from omegaconf import DictConfig
from xdist.scheduler import LoadScopeScheduling

from vae_lab import config_resolvers

REPO = Path(__file__).resolve().parents[1]
SHARED_TABLES = REPO.parent / "shared" / "data" / "tables"  # the real public tables beside the repository
PROBES = {"PYTHONPATH": str(Path(__file__).parent)}  # lightning_probes for the CLI subprocesses of a test
# Each test names its own data folder; a user's VAE_LAB_DATA_DIR would override it in the commands the tests
# run, so it is taken out of the environment here and offered only to the notebooks, which need real MNIST.
USER_DATA_DIR = os.environ.pop("VAE_LAB_DATA_DIR", None)
config_resolvers.register()
torch.set_num_threads(1)  # tests are many small models; one thread each avoids oversubscription

# Property-based tests (hypothesis): the default profile fits the suite's time and draws the same examples every run
# (derandomize: CI is red only for a change, never for a newly drawn example); HYPOTHESIS_PROFILE=thorough runs ten
# times as many, freshly drawn, by hand, to find new bugs.
settings.register_profile("default", max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

NOTEBOOK_RUNS = "tests/end_to_end/test_notebooks.py::test_notebook_runs_top_to_bottom"


class FilesTogetherNotebooksApart(LoadScopeScheduling):
    """The workers' schedule: a file's tests run on one worker, as they share module-scoped trained runs;
    each notebook run is a unit of its own, so the longest tests spread over the workers."""

    def _split_scope(self, nodeid: str) -> str:
        return nodeid if nodeid.startswith(NOTEBOOK_RUNS) else nodeid.split("::")[0]


def pytest_xdist_make_scheduler(config, log) -> FilesTogetherNotebooksApart:
    return FilesTogetherNotebooksApart(config, log)


SLOW_FOLDERS = ("tests/end_to_end/", "tests/commands/")  # whole trainings and `vae-lab` processes: every test is slow


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of SLOW_FOLDERS are marked ``slow`` (``make test-fast`` skips them; elsewhere a slow test carries the
    mark itself); notebook runs go first, so the longest units start while the rest of the suite fills the other workers."""
    for item in items:
        if item.nodeid.startswith(SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: not item.nodeid.startswith(NOTEBOOK_RUNS))


def mnist_dir() -> Path | None:
    """Where the real MNIST is (VAE_LAB_DATA_DIR, else the shared data beside the repository), or None."""
    candidates = [USER_DATA_DIR, REPO.parent / "shared" / "data", REPO / "data"]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate).absolute()
    return None


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped IDX file (the MNIST format: magic 0x08 0xNDIM, big-endian sizes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 images: a bright square whose position is the label (0-9), plus faint noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = rng.integers(0, 40, size=(n, 28, 28))
    for image, label in zip(images, labels):
        row, col = divmod(int(label), 4)
        image[4 + 6 * row : 10 + 6 * row, 3 + 6 * col : 9 + 6 * col] = rng.integers(180, 256)
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_mnist_files(raw_dir: Path, train_size: int = 600, test_size: int = 200) -> Path:
    raw_dir.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = synthetic_digits(train_size, seed=1)
    test_images, test_labels = synthetic_digits(test_size, seed=2)
    write_idx(raw_dir / "train-images-idx3-ubyte.gz", train_images)
    write_idx(raw_dir / "train-labels-idx1-ubyte.gz", train_labels)
    write_idx(raw_dir / "t10k-images-idx3-ubyte.gz", test_images)
    write_idx(raw_dir / "t10k-labels-idx1-ubyte.gz", test_labels)
    return raw_dir


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A data_dir in torchvision's layout holding small synthetic MNIST IDX files (600 train, 200 test)."""
    data_dir = tmp_path_factory.mktemp("data")
    write_mnist_files(data_dir / "MNIST" / "raw")
    return data_dir


# Rows per split of the small statically binarized MNIST that write_amat_files writes.
AMAT_SPLIT_SIZES = {"train": 30, "valid": 10, "test": 12}


def amat_text(rows: torch.Tensor) -> str:
    return "".join(" ".join(str(int(v)) for v in row) + "\n" for row in rows)


def write_amat_files(data_dir, gzipped=("train", "test")) -> dict[str, torch.Tensor]:
    """Random 0/1 rows in binarized_mnist_{train,valid,test}.amat[.gz]; returns them by split name."""
    folder = data_dir / "binarized_mnist"
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    written = {}
    for name, size in AMAT_SPLIT_SIZES.items():
        rows = torch.bernoulli(torch.full((size, 784), 0.2), generator=generator)
        path = folder / f"binarized_mnist_{name}.amat"
        if name in gzipped:
            with gzip.open(f"{path}.gz", "wt") as file:
                file.write(amat_text(rows))
        else:
            path.write_text(amat_text(rows))
        written[name] = rows
    return written


# Small and fast: the shape of a real run, a few seconds on one CPU core.
TINY = [
    "data.val_size=100",
    "data.batch_size=50",
    "data.eval_batch_size=100",
    "encoder.hidden_sizes=[32]",
    "decoder.hidden_sizes=[32]",
    "model.latent_dim=4",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=5",
]
TINY_MNIST = [*TINY, "data.download=false"]


def compose_train(overrides: list[str], output_dir: Path, data_dir: Path | None = None) -> DictConfig:
    """The `vae-lab train` config, composed by Hydra exactly as the CLI composes it."""
    extra = [f"paths.output_dir={output_dir}"]
    if data_dir is not None:
        extra.append(f"paths.data_dir={data_dir}")
    with initialize_config_module(config_module="vae_lab.conf", version_base="1.3"):
        return compose(config_name="train", overrides=[*overrides, *extra])


def cli_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `vae-lab` command run from a test: W&B offline with no key, one thread, `env` on top.

    WANDB_SERVICE is dropped: W&B sets it in this process when a test here logs to W&B, and a command that
    inherits it joins this process's wandb-core instead of starting its own, as a user's command would
    (a killed command's run then stays registered there and its resumption is refused: "run ID is in use").
    """
    full_env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    for name in ("WANDB_API_KEY", "WANDB_SERVICE"):
        full_env.pop(name, None)
    return full_env


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m vae_lab ARGS` in `cwd` (W&B offline, no network) and return the finished process."""
    return subprocess.run([sys.executable, "-m", "vae_lab", *args], cwd=cwd, env=cli_environment(env), capture_output=True, text=True, timeout=timeout)


def start_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python -m vae_lab ARGS` in `cwd` in a session of its own (so a signal reaches it alone), its output (stdout and
    stderr) going to `cwd`/cli_output.log, for the message of a failed assertion."""
    with open(cwd / "cli_output.log", "ab") as output:
        return subprocess.Popen([sys.executable, "-m", "vae_lab", *args], cwd=cwd, env=cli_environment(env), stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def assert_one_clear_message(result: subprocess.CompletedProcess, *fragments: str, code: int | None = None) -> None:
    """A command that failed (with status `code`, if given) with one message holding every fragment, and no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode != 0 if code is None else result.returncode == code, output
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, output


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())
