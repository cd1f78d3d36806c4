"""Imported last by hss_airflow.preload: builds and drops one DAG, so that what Airflow does the first time a
process builds a DAG happens once, in the process that forks the tasks, not again in every task.

On the first DAG a process builds, Airflow imports its timetables (croniter with them), the asset models and,
for a mapped operator, EmptyOperator; attrs and the ABCs finish some classes on first use. A task process
parses its DAG file first thing, forked from the Celery pool (make demo: from the LocalExecutor's workers; the
dag-processor forks each parse), so without this every task paid that first time again: a DAG file's parse in
a forked child, after the Celery worker's preload, 19 ms; 8 ms with it (docs/PERFORMANCE.md). The DAG is not
registered anywhere: Airflow collects DAGs only while it loads a DAG file, and `auto_register=False` says so.
"""

from __future__ import annotations

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param, task


def build_and_drop_one_dag() -> None:
    with DAG(
        "hss_preload_warm_up",
        schedule=None,
        params={"song_id": Param("x", type="string", minLength=1)},
        auto_register=False,
    ):

        @task
        def warm_up(song: str) -> None: ...

        # a classic operator mapped over a list too, as batch_analysis' chunks are
        warm_up("x") >> PythonOperator.partial(task_id="mapped", python_callable=print).expand(op_args=[["x"]])


build_and_drop_one_dag()
