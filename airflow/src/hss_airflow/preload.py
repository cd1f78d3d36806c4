"""The modules every task process needs, imported once by the process that forks the tasks.

Every task runs in a forked process, which then parses its DAG file; whatever the forking process has not
imported yet, each task imports again. py-spy put those imports (aiohttp and its SSL context, the contracts'
pydantic models, the hooks) at 69 % of the demo's task CPU, ≈ 0.4 s per task (docs/PERFORMANCE.md). The Celery
worker imports them before its pool forks (`hss_airflow.celery_config`), `make demo`'s LocalExecutor before it
forks its workers (`hss_airflow.local_executor`), the dag-processor before it forks its first DAG-file parse
(`hss_airflow.dag_processor`). Importing them is free of side effects; the last two build and drop a DAG
and load Airflow's plugins as a task's start does, so Airflow's own first-time work (lazy imports of its
timetables, the plugin scan) is done before the fork too.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

# What the DAG files and their tasks import: the operators (HTTP hook, aiohttp, the contracts' models), the
# DAGs' helper modules, and pandas for the training tasks. Last, the stacks' DAG bundle class
# (stack/dag_repo.py): each task's start builds Airflow's DagBundlesManager, which imports it and GitPython with
# it — py-spy put that at 24 % of the Celery worker's CPU (docs/PERFORMANCE.md). A test checks that this list
# covers every module the DAG files import, and that parsing one after this imports nothing new.
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
    "hss_airflow.dag_warm_up",  # builds one DAG with everything above imported
    "hss_airflow.task_warm_up",  # last: the task runner's first steps (the plugins, its listener manager, its decoder)
)


def import_preloaded() -> None:
    for name in PRELOADED_MODULES:
        importlib.import_module(name)


def warm_up(step: Callable[[], None]) -> None:
    """Run one warm-up step (hss_airflow.dag_warm_up, hss_airflow.task_warm_up) in the process that forks the tasks.

    A speed-up only: when it fails the worker still starts, with a warning, and each task meets the error itself."""
    try:
        step()
    except Exception:
        logging.getLogger(step.__module__).warning("%s was not done before the fork", step.__name__, exc_info=True)
