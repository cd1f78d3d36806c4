"""Celery settings of the HSS workers: Airflow's defaults, plus our modules imported before the pool forks.

Set with `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=hss_airflow.celery_config.CELERY_CONFIG` (local stacks and
docker-compose.yml). Every task runs in a process forked from a Celery pool process, which then parses its
DAG file; whatever the pool process has not imported yet, each task imports again. Airflow's Celery provider
preloads its own expensive modules for that reason (`on_celery_import_modules`); Celery's `imports` setting
does the same for ours: the worker imports them once at start, and every forked task inherits them.
With it, and nothing but real plugins in airflow/plugins, the worker's CPU per batch_analysis task went from
≈0.56 to ≈0.11 CPU-s (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

# What the DAG files and their tasks import: the operators (HTTP hook, aiohttp, the contracts' models), the
# DAGs' helper modules, and pandas for the training tasks. Importing them is free of side effects. Last, the
# stacks' DAG bundle class (stack/dag_repo.py): each task's start builds Airflow's DagBundlesManager, which
# imports it and GitPython with it — py-spy put that at 24 % of the worker's CPU (docs/PERFORMANCE.md).
PRELOADED_MODULES = (
    "hss_airflow.operators",
    "hss_airflow.batch",
    "hss_airflow.incoming",
    "hss_airflow.params",
    "hss_airflow.rescore",
    "hss_airflow.results",
    "hss_airflow.sensors",
    "hss_airflow.training_dag",
    "pandas",
    "airflow.providers.git.bundles.git",
)

# The result backend is PostgreSQL (Airflow's recommendation). With `task_track_started`, the worker writes
# STARTED there before it runs the task; by default a write that fails while PostgreSQL restarts is retried 3
# times at once, then Celery drops the task without running it and cannot store the failure either: the
# task sat queued until task_queued_timeout (seen: 5 min after a PostgreSQL restart). Retried with
# exponential backoff (10 ms, doubling, at most 10 s apart; 1 to 3 min in all) the write waits out a restart.
RESULT_BACKEND_RETRIES = {
    "result_backend_always_retry": True,
    "result_backend_max_retries": 25,
    "result_backend_base_sleep_between_retries_ms": 10,
    "result_backend_max_sleep_between_retries_ms": 10_000,
}

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": PRELOADED_MODULES, **RESULT_BACKEND_RETRIES}
