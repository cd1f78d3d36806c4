"""Imported by hss_airflow.preload after the DAG warm-up: the task runner's own first steps, done once in the
process that forks the tasks instead of in every task.

Airflow's task runner loads the plugins (a scan of the plugins folder, the entry points) to build its listener
manager, and integrates the plugins' macros before it renders the templates. Each is cached for the process
(`functools.cache`), so a task forked after this finds them done; the modules a task's start still imported
for itself (the secrets cache of its first connection look-up, Airflow's version, the asset metadata) come
with them. Per task that was ≈ 4 ms of the plugin scan before its DAG file's parse (docs/PERFORMANCE.md).
Like the rest of the preload, a plugin changed on disk is seen after the worker restarts.

It also installs hss_airflow.task_exit's supervisor, which notices a task process's exit at once.
"""

from __future__ import annotations

# the modules a task's start still imported for itself after the rest of the preload
import airflow.sdk.definitions.asset.metadata
import airflow.sdk.execution_time.cache
import airflow.version  # noqa: F401
from airflow.sdk.listener import get_listener_manager
from airflow.sdk.plugins_manager import integrate_macros_plugins

from hss_airflow.preload import warm_up
from hss_airflow.task_exit import install


def do_what_a_task_does_first() -> None:
    get_listener_manager()
    integrate_macros_plugins()


warm_up(do_what_a_task_does_first)
warm_up(install)
