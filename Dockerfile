# syntax=docker/dockerfile:1
# newsdrop image: the daemon alone, talking to the PostgreSQL named by NEWSDROP_DATABASE_URL
# (an env var or the Docker secret /run/secrets/newsdrop_database_url). The `embedded` extra
# (a PostgreSQL server inside the image) is deliberately not installed.
#
#   docker build -t newsdrop .
#   docker run --rm -v "$PWD/data:/var/lib/newsdrop" \
#       -v "$PWD/deploy/secrets/newsdrop_database_url.txt:/run/secrets/newsdrop_database_url:ro" \
#       -p 127.0.0.1:8080:8080 newsdrop

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# The venv lives at the same path in both stages: its scripts carry absolute shebangs.
RUN python -m venv /opt/newsdrop/venv
ENV PATH=/opt/newsdrop/venv/bin:$PATH
WORKDIR /src

# Dependencies first, read from pyproject.toml alone, so this layer is rebuilt only when
# they change, not on every source edit. Every one of them ships wheels for CPython 3.12 on
# x86_64 and aarch64 (checked against PyPI), so the builder needs no compiler.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
    && pip install -r /tmp/requirements.txt

# Then the package itself, as a wheel, without extras.
COPY README.md ./
COPY service ./service
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir /wheels . \
    && pip install /wheels/newsdrop-*.whl \
    && pip check

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="newsdrop" \
      org.opencontainers.image.description="Watch-folder ingestion of scraped news pages into PostgreSQL" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/newsdrop/venv/bin:$PATH \
    NEWSDROP_DATA_DIR=/var/lib/newsdrop \
    NEWSDROP_HTTP_HOST=0.0.0.0 \
    NEWSDROP_HTTP_PORT=8080 \
    NEWSDROP_LOG_FORMAT=json

# A passwd entry for the numeric user: libpq looks the user up when a URL names none, and
# HOME comes from it. inbox/, processing/, processed/ and quarantine/ are made here so that
# a fresh named volume starts with them, owned by the service user.
RUN groupadd --system --gid 10001 newsdrop \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/newsdrop --shell /usr/sbin/nologin newsdrop \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/newsdrop \
        /var/lib/newsdrop/inbox /var/lib/newsdrop/processing \
        /var/lib/newsdrop/processed /var/lib/newsdrop/quarantine

COPY --from=builder /opt/newsdrop/venv /opt/newsdrop/venv

# Settings read `.env` and `config/newsdrop.env` relative to the working directory: a
# root-owned, empty one, so only a file mounted on purpose at
# /opt/newsdrop/config/newsdrop.env is picked up, never one dropped into the data dir.
WORKDIR /opt/newsdrop
USER 10001:10001

# One volume for the whole data dir: its four folders must stay on one file system for
# the atomic link/rename between them.
VOLUME ["/var/lib/newsdrop"]
EXPOSE 8080
# SIGTERM: stop taking files, finish the one in hand (well under a second), exit 0.
STOPSIGNAL SIGTERM

# Liveness only (/readyz would mark the container unhealthy, and restart-happy
# orchestrators kill it, whenever the database is down). No proxy: urllib would otherwise
# honour $http_proxy even for 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.build_opener(urllib.request.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('NEWSDROP_HTTP_PORT', '8080') + '/healthz', timeout=4)"]

ENTRYPOINT ["newsdrop"]
CMD ["run"]
