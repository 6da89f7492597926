# One image for every Cairn role: `cairn serve placement|metadata|datanode|api|gc`, `cairn admin`,
# `cairn up`, and the Helm chart's failure-domain init container (`cairn kube-domain`).
#   make image                       # docker build -t cairn:0.1.0 .
#   docker run --rm cairn:0.1.0 serve api --help
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: every wheel (Cairn and its dependencies) is built or fetched here, once ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler only for dependencies without a wheel for this platform; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cairn/ cairn/
COPY api_service/ api_service/
COPY placement/ placement/
COPY datanode/ datanode/
COPY metadata/ metadata/
COPY gc/ gc/
COPY proto/ proto/
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the wheels installed without a network, no compiler, a non-root user -----------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# glibc malloc: buffers up to 8 MiB from the heap, up to 64 MiB of freed heap kept (cairn/supervisor.py MALLOC_ENV)
ENV MALLOC_MMAP_THRESHOLD_=8388608 MALLOC_TRIM_THRESHOLD_=67108864
RUN groupadd --system --gid 10001 cairn \
    && useradd --system --uid 10001 --gid cairn --home-dir /var/lib/cairn --shell /usr/sbin/nologin cairn \
    && install -d -o cairn -g cairn /var/lib/cairn /data
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels cairn
USER 10001:10001
WORKDIR /var/lib/cairn
# S3 API, placement, metadata, data node, metrics/health of the gRPC services
EXPOSE 9000 7000 7100 7200 9090
ENTRYPOINT ["cairn"]
CMD ["--help"]
