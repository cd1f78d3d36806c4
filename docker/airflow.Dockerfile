# The one Airflow image of the compose stack: apache/airflow 3.3.2 + the repo's DAGs, plugins and contracts.
# Every Airflow service (init, api-server, scheduler, dag-processor, triggerer, worker, flower) runs it;
# DAGs and plugins are baked in (no bind mounts), so what runs is what was built.
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11
ARG AIRFLOW_VERSION=3.3.2

USER root
# curl for the healthchecks (present in the base image; kept explicit and harmless if already there).
RUN command -v curl >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*)
USER airflow

# What the plugins import beyond the base image: pydantic models from contracts/, pandas, matplotlib (reports).
# Pinning apache-airflow keeps pip from touching Airflow itself; celery<5.7 because celery 5.7.0 breaks the
# Celery provider (ImportError 'retry' from celery.backends.database — DESIGN.md, measured with 3.3.2).
RUN pip install --no-cache-dir \
      "apache-airflow==${AIRFLOW_VERSION}" \
      "celery>=5.5,<5.7" \
      "pydantic>=2.7" \
      "pandas>=2.1" \
      "matplotlib>=3.8"

COPY --chown=airflow:root contracts/ /opt/hss/contracts/
COPY --chown=airflow:root airflow/dags/ /opt/airflow/dags/
COPY --chown=airflow:root airflow/plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root airflow/config/ /opt/airflow/config/

# The passwords file (written by airflow-init) and the data root live in named volumes; a fresh named volume
# takes the ownership of the image's folder, so create them owned by the airflow user (uid 50000, as the
# services image's user: both write the shared hss-data volume).
USER root
RUN mkdir -p /opt/airflow/auth /app/data && chown airflow:root /opt/airflow/auth /app/data
USER airflow

# `contracts` (repo root package) and the plugins (workflow_operators, hss_airflow) import from anywhere.
ENV PYTHONPATH=/opt/airflow/plugins:/opt/hss \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    HSS_DATA_ROOT=/app/data
