# syntax=docker/dockerfile:1.7
# predictor-svc image (CPU; libtorch from the CPU build of the torch==2.11.0 wheel).
# Build from the repository root (BuildKit):
#   docker build -f docker/predictor.Dockerfile -t lstm-forecast-predictor:0.1.0 .
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
# PyTorch's pip index of CPU-only wheels (a mirror of it works the same).
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

# ---- builder: scripts/setup.sh (libtorch from the wheel) + cargo build --release -------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
ARG TORCH_CPU_INDEX
# Unpinned on purpose: the release is pinned by the tag, packages follow its security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*
# setup.sh keeps its virtualenv in $LSTM_FORECAST_CACHE/torch-2.11.0 and links it as .venv/.libtorch.
ENV LSTM_FORECAST_CACHE=/opt/lstm-forecast \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY scripts/setup.sh scripts/requirements.txt scripts/
# The PyPI wheel of torch 2.11.0 is the CUDA 13 build (~4.6 GB with its nvidia-* wheels). A CPU
# image only needs libtorch_cpu, so the CPU build of the same version (2.11.0+cpu, which
# satisfies `torch==2.11.0` in requirements.txt) is installed into the venv first; setup.sh
# then adds the rest and links .libtorch. The test makes sure no CUDA libtorch slipped in.
RUN python3 -m venv "$LSTM_FORECAST_CACHE/torch-2.11.0" \
 && "$LSTM_FORECAST_CACHE/torch-2.11.0/bin/pip" install --quiet \
      --index-url "$TORCH_CPU_INDEX" --extra-index-url https://pypi.org/simple \
      torch==2.11.0+cpu \
 && bash scripts/setup.sh \
 && test -f .libtorch/lib/libtorch_cpu.so \
 && test ! -e .libtorch/lib/libtorch_cuda.so
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p predictor-svc --bin predictor-svc \
 && install -D -m 0755 target/release/predictor-svc /out/bin/predictor-svc
# libtorch's shared libraries, without the Python binding (it would need libpython).
RUN mkdir -p /out/libtorch/lib \
 && find -L .libtorch/lib -maxdepth 1 -type f -name '*.so*' ! -name 'libtorch_python.so' \
      -exec cp -L {} /out/libtorch/lib/ \;

# ---- runtime -------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
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
COPY --from=builder /out/libtorch/lib/ /opt/libtorch/lib/
COPY --from=builder /out/bin/predictor-svc /usr/local/bin/predictor-svc
# The binary's rpath points at the builder's /src/.libtorch/lib, which does not exist here;
# the loader falls back to LD_LIBRARY_PATH. Containers listen on all interfaces (the binary's
# defaults are 127.0.0.1 for laptop runs); Kubernetes sets the same through the ConfigMap.
ENV LD_LIBRARY_PATH=/opt/libtorch/lib \
    OMP_WAIT_POLICY=PASSIVE \
    PREDICTOR_ADDR=0.0.0.0:50052 \
    METRICS_ADDR=0.0.0.0:9091 \
    LOG_FORMAT=json \
    RUST_LOG=info
# Fail the build, not the pod, when a shared library is missing.
RUN ldd /usr/local/bin/predictor-svc >/tmp/ldd.txt \
 && if grep 'not found' /tmp/ldd.txt; then exit 1; fi \
 && rm /tmp/ldd.txt
WORKDIR /app
USER 10001:10001
EXPOSE 50052 9091
ENTRYPOINT ["/usr/local/bin/predictor-svc"]
CMD ["serve"]
