# The five FastAPI services share one image; SERVICE_APP and PORT pick the service
# (e.g. SERVICE_APP=services.audio.app:app PORT=8001 — contracts/src/contracts/catalog.py lists them).
# Only the `services` dependency group of uv.lock is installed (no Airflow, no dev tools), at the locked versions.
ARG HSS_PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- stage 1: the locked venv (rebuilt only when pyproject.toml or uv.lock change) ----------------------
FROM ${HSS_PYTHON_IMAGE} AS venv
ARG UV_VERSION=0.13.9
ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_PROJECT_ENVIRONMENT=/opt/venv
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/uv && /opt/uv/bin/pip install --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY airflow/pyproject.toml airflow/
COPY contracts/pyproject.toml contracts/
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-default-groups --group services --no-install-workspace

# ---- stage 2: the runtime image ---------------------------------------------------------------------
FROM ${HSS_PYTHON_IMAGE}
RUN useradd --uid 50000 --gid 0 --home-dir /app --shell /usr/sbin/nologin hss \
    && mkdir -p /app/data && chown 50000:0 /app /app/data && chmod g+rwX /app /app/data
COPY --from=venv /opt/venv /opt/venv
COPY docker/healthcheck.py /usr/local/bin/hss-healthcheck
# A user name for any uid (compose runs the services as AIRFLOW_UID:0, which may have no passwd entry).
ENV PATH=/opt/venv/bin:${PATH} \
    USER=hss \
    LOGNAME=hss \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    SERVICE_APP=services.audio.app:app \
    PORT=8001 \
    HSS_DATA_ROOT=/app/data
WORKDIR /app
# The source last: a code change rebuilds only these layers (seconds).
COPY contracts/src/contracts/ ./contracts/
COPY services/ ./services/
USER 50000
EXPOSE 8001 8002 8003 8004 8005
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 CMD ["hss-healthcheck", "service"]
CMD ["sh", "-c", "exec uvicorn \"$SERVICE_APP\" --host 0.0.0.0 --port \"$PORT\" --no-access-log"]
