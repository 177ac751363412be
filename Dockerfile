# syntax=docker/dockerfile:1
# Images for the cluster (k8s/). Build with `make images`, or:
#   docker build --target services -t ghcr.io/quilt-stream/quilt-services:0.1.0 .
#   docker build --target triton   -t ghcr.io/quilt-stream/quilt-triton:0.1.0 .
# services: every stage (the container command picks one: python -m services.<name>), the
#           quilt CLI, and later the training job.
# triton:   NVIDIA's Triton with the project installed: the models in triton_models/ are
#           python-backend code that imports quilt.
# Base images are pinned by exact tag; scripts/k8s_check.py lints this file.

# ---- build: a virtualenv with the dependencies and the package, protos generated here ----
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY pyproject.toml ./
COPY protos ./protos
COPY scripts/gen_protos.py ./scripts/gen_protos.py
COPY quilt ./quilt
COPY services ./services
# The continual CLIP trainer (python -m training.train, k8s/overlays/gpu-prod) and its configs.
COPY training ./training
# The Triton model repository is part of the package (pyproject.toml), so the CLI's embedded stack
# finds it in an installed image too; the triton image below serves its own copy.
COPY triton_models ./triton_models
# quiltpb/ is generated, never copied (.dockerignore), so it always matches protos/.
RUN python scripts/gen_protos.py \
 && pip install --no-deps . \
 && pip wheel --no-deps --wheel-dir /wheels .

# ---- services: the runtime image of the stages ----
FROM python:3.11.14-slim-bookworm AS services
# hunspell-en-med and hunspell-en-us: word lists the denoiser reads at run time
# (quilt/stages/common/lexicon.py; the medical list's licence keeps it out of the package).
# tesseract-ocr with its English model: the decoder reads the words on each key frame
# (quilt/stages/common/screen_text.py; without it the frames simply have no screen text).
# Media decoding needs no system libraries: PyAV's wheel bundles FFmpeg.
RUN apt-get update \
 && apt-get install -y --no-install-recommends hunspell-en-med hunspell-en-us tesseract-ocr tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 quilt \
 && useradd --system --uid 10001 --gid quilt --home-dir /home/quilt --create-home quilt
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/quilt
WORKDIR /home/quilt
# Numeric, so that Kubernetes' runAsNonRoot can verify it (k8s/base/stages/common-patch.yaml).
USER 10001:10001
CMD ["quilt", "--help"]

# ---- triton: tritonserver plus the project for the python-backend models ----
FROM nvcr.io/nvidia/tritonserver:25.01-py3 AS triton
# The python backend runs the models in the image's system Python, so the project and its
# dependencies go there (the wheel built above is pure Python).
COPY requirements.txt /tmp/quilt/requirements.txt
COPY --from=build /wheels /tmp/quilt/wheels
RUN pip install --no-cache-dir --break-system-packages -r /tmp/quilt/requirements.txt /tmp/quilt/wheels/*.whl \
 && rm -rf /tmp/quilt
# The repository the dev overlay serves (k8s/overlays/dev/triton-cpu.yaml); gpu-prod reads
# the one in the bucket.
COPY triton_models /opt/quilt/triton_models
ENV PYTHONDONTWRITEBYTECODE=1
# triton-server, the image's unprivileged user.
USER 1000:1000
