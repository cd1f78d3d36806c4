"""Defaults every HSS DAG shares: owner, retries with backoff, the failure mail, pool names.

Connection ids are the catalog's (`contracts.catalog`); each operator defaults to its service's."""

from __future__ import annotations

from datetime import timedelta

from contracts import catalog
from hss_airflow.alerting import task_failure_notifier

AUDIO_POOL = "hss_audio"  # tasks that send Essentia work to workflow-audio (airflow/config/pools.json)
SERVICES_POOL = "hss_services"  # calls to the light services (content, prediction, insights, training)
AUDIO_QUEUE = catalog.AUDIO_QUEUE  # the Celery queue of those same tasks (contracts.catalog says who consumes it)

# Operators already retry connection errors, timeouts, 5xx and 429 inside one try (http_attempts with
# backoff) and fail a 4xx at once without retry; these task retries cover what outlives that (a service
# restarting, a worker lost).
DEFAULT_ARGS = {
    "owner": "hss",
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=5),
    # One mail when a task fails for good (hss_airflow.alerting).
    "on_failure_callback": task_failure_notifier(),
}
