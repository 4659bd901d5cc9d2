# One image for every boom_flow component; the command selects which:
#   dask scheduler | dask worker --preload boom_flow.pipeline.preload
#   boom-flow run graphs/ztf.yaml | boom-flow api | boom-flow models fetch | ...
# helm/boom-flow runs it (image.repository / image.tag). Build: docker build -t boom-flow .
# The embedded servers are not installed: in a cluster, MongoDB, Kafka and Valkey are
# external services.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: the runtime dependencies, then the package, into one virtualenv ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/boom-flow
ENV PATH=/opt/boom-flow/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt
# Then the package itself (no extras: no test tools, no embedded servers).
COPY README.md ./
COPY boom_flow ./boom_flow
RUN pip install --no-deps . \
    && find /opt/boom-flow -name '__pycache__' -prune -exec rm -rf {} +

# --- runtime: the virtualenv, the pipeline graphs and a non-root user -----------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/boom-flow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/boom
RUN groupadd --gid 10001 boom \
    && useradd --uid 10001 --gid boom --home-dir /home/boom --create-home --shell /usr/sbin/nologin boom \
    && mkdir -p /var/lib/boom-flow/models /var/lib/boom-flow/catalogs /var/lib/boom-flow/state \
    && chown -R boom:boom /var/lib/boom-flow
COPY --from=build /opt/boom-flow /opt/boom-flow
WORKDIR /app
COPY graphs ./graphs
USER 10001:10001
# Dask's scheduler (comm, dashboard + /metrics), a worker's /metrics, the ingest
# process's /metrics + /health, the API.
EXPOSE 8786 8787 8788 9090 4000
CMD ["boom-flow", "--help"]
