# The one Airflow image of the compose stack: Airflow and its providers at exactly the versions of uv.lock
# (the `airflow` dependency group — what the tests ran), the installed package hss_airflow, the DAGs and contracts.
# Every Airflow service (init, api-server, scheduler, dag-processor, triggerer, worker, flower) runs it.
# The base is a plain Python image named by HSS_PYTHON_IMAGE (a registry mirror works the same way).
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
    /opt/uv/bin/uv sync --frozen --no-default-groups --group airflow --no-install-workspace

# ---- stage 2: the hss_airflow and contracts wheels (rebuilt when a package changes; the venv above stays) --
FROM venv AS package
COPY contracts/src/ contracts/src/
COPY airflow/src/ airflow/src/
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv build --wheel --package hss-contracts --out-dir /wheels \
    && /opt/uv/bin/uv build --wheel --package hss-airflow --out-dir /wheels

# ---- stage 3: the runtime image ---------------------------------------------------------------------
FROM ${HSS_PYTHON_IMAGE}
# git: the Git DAG bundle (hss-dags) clones the stack's DAG repository with it. The repository is a bind
# mount owned by the host's user, not uid 50000: git refuses such a repository ("dubious ownership") unless a
# protected config trusts it, and a local clone strips GIT_CONFIG_* from the environment of the side that
# reads it, so the trust goes into the system config. This image reads no other repository.
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'
# uid 50000 as in Airflow's own image, group 0 so an arbitrary uid (`user: "<uid>:0"`) can write its home.
# An empty airflow.cfg: the configuration is the environment, and Airflow would otherwise write one at first
# start, which a read-only root filesystem (docker-compose.yml) refuses.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home --shell /bin/bash airflow \
    && mkdir -p /opt/airflow/auth /opt/airflow/logs /app/data \
    && touch /opt/airflow/airflow.cfg \
    && chown -R 50000:0 /opt/airflow /app/data && chmod -R g+rwX /opt/airflow /app/data
COPY --from=venv /opt/venv /opt/venv
COPY docker/airflow-entrypoint.sh /usr/local/bin/hss-airflow-entrypoint
COPY docker/healthcheck.py /usr/local/bin/hss-healthcheck
COPY docker/mail_sink.py /usr/local/bin/hss-mail-sink
COPY docker/airflow-init.sh /usr/local/bin/hss-airflow-init
COPY docker/init_checks.py /usr/local/bin/hss-init-checks
# HOME and a user name for any uid: compose runs the containers as AIRFLOW_UID:0, which may have no passwd
# entry, and the root filesystem is read-only (Airflow's image appends one to /etc/passwd instead). Python's
# getpass.getuser(), which Airflow asks, reads USER/LOGNAME before it looks the uid up.
ENV PATH=/opt/venv/bin:${PATH} \
    HOME=/opt/airflow \
    USER=airflow \
    LOGNAME=airflow \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    HSS_DATA_ROOT=/app/data
# The source last: a change to a DAG or to hss_airflow rebuilds only these layers (seconds).
# hss_airflow into the venv like any library (no dependencies to resolve: the venv has them, from the lock),
# byte-compiled here: uid 50000 cannot write __pycache__ into the venv, and every DAG parse would compile it.
RUN --mount=from=venv,source=/opt/uv,target=/opt/uv --mount=from=package,source=/wheels,target=/wheels \
    /opt/uv/bin/uv pip install --python /opt/venv/bin/python --no-deps --no-cache --compile-bytecode /wheels/*.whl
COPY --chown=50000:0 airflow/config/ /opt/airflow/config/
COPY --chown=50000:0 airflow/plugins/ /opt/airflow/plugins/
COPY --chown=50000:0 airflow/dags/ /opt/airflow/dags/
USER 50000
WORKDIR /opt/airflow
EXPOSE 8080 8793 8974 5555
# The component's own probe (api-server, scheduler, worker, flower, dag-processor, triggerer: see the script).
HEALTHCHECK --interval=15s --timeout=20s --start-period=30s --retries=5 CMD ["hss-healthcheck"]
ENTRYPOINT ["hss-airflow-entrypoint"]
CMD ["version"]
