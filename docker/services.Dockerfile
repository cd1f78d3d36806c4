# The five FastAPI services share one image; SERVICE_APP and PORT pick the service
# (e.g. SERVICE_APP=services.audio.app:app PORT=8001 — contracts/catalog.py lists them).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_DOWNLOADS=never

WORKDIR /app

# The services' dependencies at exactly the versions of uv.lock: the lock is exported as a constraints file
# and only the packages the services import are installed (not Airflow, not the dev tools). --pre: Essentia only
# publishes pre-releases; every version is pinned by the constraints anyway.
COPY pyproject.toml uv.lock ./
RUN pip install uv \
    && uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/constraints.txt \
    && pip install --pre -c /tmp/constraints.txt \
         fastapi "uvicorn[standard]" pydantic pydantic-settings prometheus-fastapi-instrumentator \
         essentia numpy scipy scikit-learn pandas joblib vaderSentiment requests \
    && pip uninstall -y uv \
    && rm /tmp/constraints.txt

COPY contracts/ ./contracts/
COPY services/ ./services/

RUN useradd --system --uid 50000 --home-dir /app hss \
    && mkdir -p /app/data && chown hss /app/data
USER hss

ENV SERVICE_APP=services.audio.app:app \
    PORT=8001 \
    HSS_DATA_ROOT=/app/data
EXPOSE 8001 8002 8003 8004 8005
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health', timeout=4)"
CMD ["sh", "-c", "exec uvicorn \"$SERVICE_APP\" --host 0.0.0.0 --port \"$PORT\" --no-access-log"]
