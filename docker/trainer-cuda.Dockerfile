# syntax=docker/dockerfile:1.7
# trainer-svc, CUDA image: libtorch and the CUDA 13 libraries of the same torch==2.11.0 wheel and its
# nvidia-* wheels (no nvidia/cuda base image needed; needs an NVIDIA driver >= 580 on the node and
# the NVIDIA container toolkit / device plugin, which mount the driver).
# Image localhost/lstm-forecast-trainer-cuda:<workspace version>. Two stages:
#   builder  setup.sh (torch==2.11.0 wheel from PyPI) + cargo build + docker/stage.sh
#   runtime  a Debian bookworm base + the staged files, uid/gid 10001, read-only root capable
# scripts/images.sh builds the *runtime* stage of this file with podman, replacing `builder` by
# the same docker/stage.sh output of the binaries the project already built and the base by a
# debootstrap'd bookworm (no registry); docs/deployment.md. With Docker (BuildKit):
#   docker build -f docker/trainer-cuda.Dockerfile -t localhost/lstm-forecast-trainer-cuda:0.1.0 .
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG BASE_IMAGE=debian:bookworm-slim

# ---- builder: the wheel's libtorch, cargo build, docker/stage.sh ------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# Cargo profile of the binary: dev (opt-level 1, as the main job and the tests build it) like scripts/images.sh
# (IMAGE_PROFILE), or release.
ARG CARGO_PROFILE=dev
# Unpinned on purpose: the release is pinned by the tag, packages follow its security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip patchelf \
 && rm -rf /var/lib/apt/lists/*
# setup.sh keeps its virtualenv in $LSTM_FORECAST_CACHE/torch-2.11.0 and links it as .libtorch.
ENV LSTM_FORECAST_CACHE=/opt/lstm-forecast \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY scripts/setup.sh scripts/requirements.txt scripts/
RUN bash scripts/setup.sh
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --locked --profile "$CARGO_PROFILE" -p trainer-svc --bin trainer-svc \
 && dir=$([ "$CARGO_PROFILE" = dev ] && echo debug || echo "$CARGO_PROFILE") \
 && bash docker/stage.sh libs cuda .libtorch /out \
 && bash docker/stage.sh bin cuda "target/$dir/trainer-svc" /out

# ---- runtime ---------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
LABEL io.lstm-forecast.image=1
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app \
 && mkdir -p /app/data \
 && chown 10001:10001 /app/data
# libtorch and the CUDA libraries first: the same layer for every build of this torch version.
COPY --from=builder /out/opt/ /opt/
COPY --from=builder /out/usr/local/bin/trainer-svc /usr/local/bin/trainer-svc
# The binary's RUNPATH is /opt/torch/site-packages/torch/lib (docker/stage.sh). Containers listen
# on all interfaces (the binary's defaults are 127.0.0.1 for laptop runs); Kubernetes sets the
# same in the ConfigMap.
# The driver (libcuda.so.1) is mounted by the NVIDIA container runtime; CUDA's JIT cache must be
# writable under a read-only root filesystem (Kubernetes mounts an emptyDir on /tmp).
ENV CUDA_CACHE_PATH=/tmp/cuda-cache \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
ENV TRAINER_ADDR=0.0.0.0:50051 \
    METRICS_ADDR=0.0.0.0:9090 \
    LOG_FORMAT=json \
    RUST_LOG=info
# Fail the build, not the pod, when a shared library is missing or libtorch does not load.
RUN ldd /usr/local/bin/trainer-svc >/tmp/ldd.txt \
 && if grep 'not found' /tmp/ldd.txt; then exit 1; fi \
 && rm /tmp/ldd.txt \
 && /usr/local/bin/trainer-svc --version
WORKDIR /app
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/trainer-svc"]
CMD ["serve"]
