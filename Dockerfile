# vae_lab on a CUDA PyTorch image.
#   docker build -t vae-lab .
#   docker run --gpus all --shm-size=1g -e WANDB_API_KEY -v "$PWD/data:/data" -v "$PWD/runs:/runs" \
#     vae-lab train trainer=gpu
# The base image's torch and torchvision are kept (built for the image's CUDA); every other package is
# installed at the version the test suite last ran with (requirements/constraints.txt). The W&B key
# comes only from the environment at run time (-e WANDB_API_KEY); without it, W&B logs offline.
ARG BASE_IMAGE=pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime
FROM ${BASE_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VAE_LAB_DATA_DIR=/data \
    VAE_LAB_LOG_DIR=/runs \
    HOME=/home/vae

WORKDIR /opt/vae_lab

# Dependencies first, in their own layer: editing the code does not reinstall them.
COPY pyproject.toml requirements/constraints.txt ./
RUN grep -vE '^(torch|torchvision|triton|nvidia-|cuda-)' constraints.txt > /tmp/constraints.txt \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
       > /tmp/requirements.txt \
    && pip install --no-cache-dir -c /tmp/constraints.txt -r /tmp/requirements.txt

COPY README.md ./
COPY conf conf
COPY vae_lab vae_lab
COPY hydra_plugins hydra_plugins
COPY benchmarks benchmarks
RUN pip install --no-cache-dir --no-deps . \
    && useradd --uid 1000 --create-home --home-dir /home/vae vae \
    && mkdir -p /data /runs \
    && chown vae /data /runs \
    && chmod 1777 /home/vae /runs

# Runs write to /runs and data is read from /data: mount host folders there (-v "$PWD/runs:/runs"; the folder
# must be writable by uid 1000). No VOLUME instruction: the first real build (buildah, make image-check) showed
# that the image's anonymous volumes shadowed the host folders mounted at /data and /runs, so a run's files
# never reached the host; without a mount, docker would also hide them in an anonymous volume.
USER 1000
ENTRYPOINT ["vae-lab"]
CMD ["--help"]
