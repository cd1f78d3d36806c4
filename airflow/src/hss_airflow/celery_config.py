"""Celery settings of the HSS workers: Airflow's defaults, plus our modules imported before the pool forks.

Set with `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=hss_airflow.celery_config.CELERY_CONFIG` (local stacks and
docker-compose.yml). Every task runs in a process forked from a Celery pool process, which then parses its
DAG file; whatever the pool process has not imported yet, each task imports again. Airflow's Celery provider
preloads its own expensive modules for that reason (`on_celery_import_modules`); Celery's `imports` setting
does the same for ours (`hss_airflow.preload`): the worker imports them once at start, and every forked task
inherits them.
With it, and nothing but real plugins in airflow/plugins, the worker's CPU per batch_analysis task went from
≈0.56 to ≈0.11 CPU-s (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.backends.database import DatabaseBackend
from celery.backends.database.session import SessionManager

from hss_airflow.preload import PRELOADED_MODULES

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


class _PooledSessionManager(SessionManager):
    """Celery's session manager on its pooled path in every process, not only in one forked by billiard.

    Unforked, Celery builds a new SQLAlchemy engine and opens a new PostgreSQL connection for every session,
    so that no pooled connection can leak into a later fork. The scheduler never forks for it, and its Celery
    executor reads the task states at every loop while tasks run: py-spy put the engine and connection builds
    at 19 % of the scheduler's CPU during batch_analysis (docs/PERFORMANCE.md). Here a fork is handled where
    it happens: the child drops the pool it inherited (without closing the parent's connections) and opens
    its own. pool_pre_ping replaces a connection that died with a PostgreSQL restart before it is used.
    """

    def __init__(self) -> None:
        super().__init__()
        self.forked = True  # SessionManager's switch for "keep one pooled engine per URL"
        manager = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (alive := manager()) is not None and alive.drop_inherited())

    def drop_inherited(self) -> None:
        for engine in self._engines.values():
            engine.dispose(close=False)  # the parent's connections stay open, and the parent's

    def get_engine(self, dburi: str, **kwargs: Any) -> Any:
        return super().get_engine(dburi, **{"pool_pre_ping": True, **kwargs})


class PooledDatabaseBackend(DatabaseBackend):
    """Celery's database result backend, with one pooled engine per process (see _PooledSessionManager)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_manager = _PooledSessionManager()


POOLED_BACKEND = f"{__name__}:{PooledDatabaseBackend.__name__}"


def pooled(result_backend: str) -> str:
    """Celery's `db+<url>` as the same database through PooledDatabaseBackend (`<module:class>+<url>`, which
    celery.app.backends.by_url resolves); any other result backend as it is."""
    return (
        f"{POOLED_BACKEND}+{result_backend.removeprefix('db+')}" if result_backend.startswith("db+") else result_backend
    )


CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "imports": PRELOADED_MODULES,
    **RESULT_BACKEND_RETRIES,
    "result_backend": pooled(DEFAULT_CELERY_CONFIG["result_backend"]),
}
