# syntax=docker/dockerfile:1.7
# trainer-svc, CUDA image: libtorch and the CUDA 13 libraries (cuBLAS, cuDNN, NCCL, ...) come
# from the PyPI wheel torch==2.11.0 and its nvidia-* wheels, exactly as scripts/setup.sh
# installs them for development, so the binary is built against the same libtorch the GPU
# machines use. Needs an NVIDIA driver >= 580 on the node (CUDA 13) and the NVIDIA container
# toolkit / device plugin. Build from the repository root (BuildKit):
#   docker build -f docker/trainer-cuda.Dockerfile -t lstm-forecast-trainer-cuda:0.1.0 .
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG CUDA_BASE=nvidia/cuda:13.0.0-base-ubuntu24.04

# ---- builder: scripts/setup.sh (torch wheel + nvidia wheels) + cargo build --release --------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# Unpinned on purpose: the release is pinned by the tag, packages follow its security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*
ENV LSTM_FORECAST_CACHE=/opt/lstm-forecast \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY scripts/setup.sh scripts/requirements.txt scripts/
RUN bash scripts/setup.sh \
 && test -f .libtorch/lib/libtorch_cuda.so
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p trainer-svc --bin trainer-svc \
 && install -D -m 0755 target/release/trainer-svc /out/bin/trainer-svc
# Keep the wheel's layout: libtorch_cuda.so finds the CUDA libraries through its RPATH
# $ORIGIN/../../nvidia/<lib>/lib, so torch/lib and nvidia/ must stay siblings under one
# site-packages directory. Headers, static libraries and Python files are dropped.
RUN site=$(readlink -f .libtorch/..) \
 && mkdir -p /out/site-packages/torch/lib \
 && find "$site/torch/lib" -maxdepth 1 -type f -name '*.so*' ! -name 'libtorch_python.so' \
      -exec cp {} /out/site-packages/torch/lib/ \; \
 && cp -a "$site/nvidia" /out/site-packages/nvidia \
 && find /out/site-packages/nvidia \( -name include -o -name '__pycache__' \) -type d -prune -exec rm -rf {} + \
 && find /out/site-packages/nvidia \( -name '*.a' -o -name '*.py' -o -name '*.h' \) -type f -delete

# ---- runtime -------------------------------------------------------------------------------
FROM ${CUDA_BASE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app \
 && mkdir -p /app/data \
 && chown 10001:10001 /app/data
COPY --from=builder /out/site-packages/ /opt/torch/site-packages/
COPY --from=builder /out/bin/trainer-svc /usr/local/bin/trainer-svc
# The binary's rpath points at the builder's /src/.libtorch/lib; here libtorch is found through
# LD_LIBRARY_PATH and the CUDA libraries through libtorch's own $ORIGIN rpath. The driver
# (libcuda.so.1) is mounted by the NVIDIA container runtime. CUDA_CACHE_PATH must be writable
# under a read-only root filesystem (Kubernetes mounts an emptyDir on /tmp).
ENV LD_LIBRARY_PATH=/opt/torch/site-packages/torch/lib \
    CUDA_CACHE_PATH=/tmp/cuda-cache \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    TRAINER_ADDR=0.0.0.0:50051 \
    METRICS_ADDR=0.0.0.0:9090 \
    LOG_FORMAT=json \
    RUST_LOG=info
# Fail the build, not the pod, when a library is missing (the driver library is not in the
# image by design).
RUN ldd /usr/local/bin/trainer-svc >/tmp/ldd.txt \
 && if grep 'not found' /tmp/ldd.txt | grep -v 'libcuda\.so\.1'; then exit 1; fi \
 && rm /tmp/ldd.txt
WORKDIR /app
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/trainer-svc"]
CMD ["serve"]
