"""The worker's writes to the Celery result backend wait out a database restart (hss_airflow/celery_config.py).

With Celery's defaults, the STARTED write that precedes every task is tried 3 times at once; when PostgreSQL
is restarting, Celery then drops the task unrun and the scheduler only notices at task_queued_timeout.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import Celery
from celery.backends.database import DatabaseBackend
from celery.exceptions import BackendStoreError
from celery.states import STARTED
from sqlalchemy.exc import OperationalError

from hss_airflow.celery_config import CELERY_CONFIG


def backend_with_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int) -> DatabaseBackend:
    """The workers' Celery config on a SQLite result backend whose first `failures` writes fail as in a restart."""
    app = Celery("outage")
    app.config_from_object({**CELERY_CONFIG, "result_backend": f"db+sqlite:///{tmp_path / 'results.db'}"})
    backend = app.backend
    assert isinstance(backend, DatabaseBackend)
    monkeypatch.setattr(backend, "_sleep", lambda seconds: None)  # the backoff's waits, not its decisions
    store = backend._store_result
    outage = {"left": failures}

    def flaky_store(*args, **kwargs):
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("the database system is shutting down"))
        return store(*args, **kwargs)

    monkeypatch.setattr(backend, "_store_result", flaky_store)
    return backend


def test_the_started_write_outlasts_a_database_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = backend_with_outage(tmp_path, monkeypatch, failures=10)  # Celery's default gives up after 3
    backend.store_result("task-1", {"pid": 1, "hostname": "worker-1"}, STARTED)
    assert backend.get_status("task-1") == STARTED


def test_an_outage_longer_than_the_retries_still_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    retries = CELERY_CONFIG["result_backend_max_retries"]
    backend = backend_with_outage(tmp_path, monkeypatch, failures=retries + 1)
    with pytest.raises(BackendStoreError):
        backend.store_result("task-2", {"pid": 1, "hostname": "worker-1"}, STARTED)
