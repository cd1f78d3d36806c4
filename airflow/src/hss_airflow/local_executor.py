"""`make demo`'s executor: Airflow's LocalExecutor, with the DAGs' modules imported before it forks its workers.

LocalExecutor forks its worker processes from the scheduler when it starts; each worker forks one process per
task, which parses its DAG file. Without this, every task imported the DAG files' modules again (≈ 0.4 s each,
docs/PERFORMANCE.md); the Celery worker does the same preload through Celery's `imports`. Airflow takes an
executor by its class path (`AIRFLOW__CORE__EXECUTOR=hss_airflow.local_executor.PreloadingLocalExecutor`).
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor

from hss_airflow.preload import import_preloaded


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor whose forked workers (and so every task) inherit hss_airflow.preload's modules."""

    def start(self) -> None:
        import_preloaded()  # before LocalExecutor.start forks the workers, under its gc.freeze
        super().start()
