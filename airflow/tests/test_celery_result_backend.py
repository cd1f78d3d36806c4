"""The Celery result backend (hss_airflow/celery_config.py): the worker's writes wait out a database restart,
and every process keeps one pooled engine, which a forked child does not share.

With Celery's defaults, the STARTED write that precedes every task is tried 3 times at once; when PostgreSQL
is restarting, Celery then drops the task unrun and the scheduler only notices at task_queued_timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from celery import Celery
from celery.app.backends import by_url
from celery.backends.database import DatabaseBackend
from celery.exceptions import BackendStoreError
from celery.states import STARTED
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from hss_airflow.celery_config import CELERY_CONFIG, PooledDatabaseBackend, pooled


def result_backend(url: str) -> DatabaseBackend:
    """The workers' Celery config on the result backend at `url`."""
    app = Celery(url)
    app.config_from_object({**CELERY_CONFIG, "result_backend": url})
    return app.backend


def backend_with_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int) -> DatabaseBackend:
    """The workers' Celery config on a SQLite result backend whose first `failures` writes fail as in a restart."""
    backend = result_backend(f"db+sqlite:///{tmp_path / 'results.db'}")
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


def test_the_stacks_result_backend_is_the_pooled_one_on_the_same_database() -> None:
    url = "db+postgresql+psycopg://airflow:p+a:ss@postgres:5432/airflow"
    assert by_url(pooled(url)) == (PooledDatabaseBackend, url.removeprefix("db+"))
    assert pooled("redis://redis:6379/1") == "redis://redis:6379/1"
    assert CELERY_CONFIG["result_backend"].startswith(f"{PooledDatabaseBackend.__module__}:PooledDatabaseBackend+")


def test_a_process_that_never_forked_reuses_one_engine_where_celerys_builds_one_per_session(tmp_path: Path) -> None:
    """The scheduler reads the task states at every loop: Celery's own backend built an engine and opened a
    database connection each time."""
    plain = result_backend(f"db+sqlite:///{tmp_path / 'plain.db'}")
    assert plain.ResultSession().get_bind() is not plain.ResultSession().get_bind()

    backend = result_backend(pooled(f"db+sqlite:///{tmp_path / 'pooled.db'}"))
    assert isinstance(backend, PooledDatabaseBackend)
    first, second = backend.ResultSession(), backend.ResultSession()
    assert first.get_bind() is second.get_bind()
    assert first.get_bind().pool._pre_ping  # a connection a database restart killed is replaced, not used


def test_a_forked_child_opens_its_own_connections_and_leaves_the_parents_open(tmp_path: Path) -> None:
    backend = result_backend(pooled(f"db+sqlite:///{tmp_path / 'fork.db'}"))
    session = backend.ResultSession()
    session.execute(text("SELECT 1"))
    session.close()
    engine = session.get_bind()
    assert engine.pool.checkedin() == 1  # one connection waits in the parent's pool

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report what its pool holds, then leave without pytest's teardown
        os.write(write_end, str(engine.pool.checkedin()).encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read_end, 16) == b"0"  # the inherited connection is not the child's to use
    assert engine.pool.checkedin() == 1  # and the parent's is still there, open
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
