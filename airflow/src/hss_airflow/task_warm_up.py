"""Imported by hss_airflow.preload after the DAG warm-up: the task runner's own first steps, done once in the
process that forks the tasks instead of in every task.

Airflow's task runner loads the plugins (a scan of the plugins folder, the entry points) to build its listener
manager, and integrates the plugins' macros before it renders the templates. Each is cached for the process
(`functools.cache`), so a task forked after this finds them done; the modules a task's start still imported
for itself (the secrets cache of its first connection look-up, Airflow's version, the asset metadata) come
with them. Per task that was ≈ 4 ms of the plugin scan before its DAG file's parse (docs/PERFORMANCE.md).
Like the rest of the preload, a plugin changed on disk is seen after the worker restarts.

Before any of that, each task process sets up its own channel to its supervisor: it configures its logging over
it, which imported two of Airflow's logging modules, and builds its message decoder, whose two pydantic
`TypeAdapter`s of the same message union (the decoder's bodies and errors) were built anew in every task. They
are imported and built here once, and the task's decoder takes the shared adapter (a `TypeAdapter` holds no
state of its own): ≈ 4 ms less per task process (docs/PERFORMANCE.md).

It also installs hss_airflow.task_exit's supervisor, which notices a task process's exit at once.
"""

from __future__ import annotations

from typing import Any

# the modules a task's start still imported for itself after the rest of the preload
import airflow.sdk._shared.logging.factory
import airflow.sdk._shared.logging.remote
import airflow.sdk.definitions.asset.metadata
import airflow.sdk.execution_time.cache
import airflow.version  # noqa: F401
from airflow.sdk.execution_time import comms
from airflow.sdk.listener import get_listener_manager
from airflow.sdk.plugins_manager import integrate_macros_plugins
from pydantic import TypeAdapter

from hss_airflow.preload import warm_up
from hss_airflow.task_exit import install


def do_what_a_task_does_first() -> None:
    get_listener_manager()
    integrate_macros_plugins()


def share_the_task_decoders_adapter() -> None:
    """Every task's `CommsDecoder` builds its adapters with `TypeAdapter(ToTask)`, looked up in Airflow's comms
    module when the decoder is made: that name now answers with one adapter built here. Any other type (or an
    Airflow that builds them another way) gets a new `TypeAdapter`, as before."""
    to_task = TypeAdapter(comms.ToTask)

    def shared(type_: Any, *args: Any, **kwargs: Any) -> TypeAdapter[Any]:
        if type_ is comms.ToTask and not args and not kwargs:
            return to_task
        return TypeAdapter(type_, *args, **kwargs)

    comms.TypeAdapter = shared  # type: ignore[assignment,misc]


warm_up(do_what_a_task_does_first)
warm_up(share_the_task_decoders_adapter)
warm_up(install)
