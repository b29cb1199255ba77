# The shotfarm image: the orchestrator and every Ray pod (head and workers) of
# the k8s/ manifests run it, so driver and workers share one Python and one
# copy of the farm's code.
#
#   docker build -t ghcr.io/shotfarm/shotfarm:0.1.0 .
#   docker build -t ghcr.io/shotfarm/shotfarm-cuda:0.1.0 \
#     --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .   # GPU workers
#
# torch goes in first from an explicit index: from PyPI's default index it
# would be a multi-GB CUDA build even for the CPU image.
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0

# wget: KubeRay's default readiness and liveness probes on Ray pods call it.
# Not version-pinned: the base image's Debian release decides which wget exists.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends wget \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"

WORKDIR /opt/shotfarm
COPY pyproject.toml README.md LICENSE ./
COPY orchestrator ./orchestrator
COPY nodes ./nodes
COPY pipelines ./pipelines
# ray[default] adds the dashboard and metrics agent a KubeRay head and the
# PodMonitor's metrics port need; the version is the one pyproject pins.
RUN pip install . "ray[default]==2.60.0"

# A fixed non-root uid that the manifests' runAsUser names.
RUN groupadd --gid 10001 shotfarm \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin shotfarm
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["shotfarm"]
