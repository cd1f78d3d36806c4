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
state of its own): ≈ 4 ms less per task process (docs/PERFORMANCE.md). Its rendered fields went the same way: one
`TypeAdapter(JsonValue)` built per templated field, in every task.

Then the task builds its context, which validates its DAG's params with `jsonschema.validate`; that first checks
each param's schema against JSON Schema's metaschema, the costliest part, for the same few schemas in every
task. The name now checks a schema once per process and content, and our DAGs' param schemas are checked here.

It also installs hss_airflow.task_exit's supervisor, which notices a task process's exit at once, and
hss_airflow.preparsed_dags, which parses a task's DAG file before the fork, once per file version.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

# the modules a task's start still imported for itself after the rest of the preload
import airflow.sdk._shared.logging.factory
import airflow.sdk._shared.logging.remote
import airflow.sdk.definitions.asset.metadata
import airflow.sdk.execution_time.cache
import airflow.version  # noqa: F401
import jsonschema
from airflow.sdk import Param
from airflow.sdk.execution_time import comms, task_runner
from airflow.sdk.listener import get_listener_manager
from airflow.sdk.plugins_manager import integrate_macros_plugins
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from pydantic import JsonValue, TypeAdapter

from hss_airflow import params, preparsed_dags
from hss_airflow.preload import warm_up
from hss_airflow.task_exit import install


def do_what_a_task_does_first() -> None:
    get_listener_manager()
    integrate_macros_plugins()


# Where Airflow's task runner builds `TypeAdapter(T)` anew in every task: the module that looks the name up, T.
SHARED_ADAPTERS: tuple[tuple[ModuleType, Any], ...] = (
    (comms, comms.ToTask),  # each CommsDecoder: its bodies' and its errors' decoder
    (task_runner, JsonValue),  # each templated field, as its rendered value is sent to the supervisor
)

# Our DAGs' params, whose schemas are checked before the fork. Any other schema (a DAG's inline Param) is checked
# at its first validation in each task, as before.
DAG_PARAMS: tuple[Callable[[], dict[str, Param]], ...] = (
    params.song_params,
    params.batch_params,
    params.training_params,
    params.daily_training_params,
    params.tuning_params,
    params.promotion_params,
)


def share_adapters() -> None:
    """`TypeAdapter` in each module of SHARED_ADAPTERS now answers with one adapter built here for its type. Any
    other type, or other arguments (or an Airflow that builds them another way), gets a new `TypeAdapter`."""
    for module, type_ in SHARED_ADAPTERS:
        module.TypeAdapter = shared_adapter_for(type_)  # type: ignore[attr-defined]


def shared_adapter_for(known: Any) -> Callable[..., TypeAdapter[Any]]:
    adapter = TypeAdapter(known)

    def shared(type_: Any, *args: Any, **kwargs: Any) -> TypeAdapter[Any]:
        if type_ is known and not args and not kwargs:
            return adapter
        return TypeAdapter(type_, *args, **kwargs)

    return shared


@functools.lru_cache(maxsize=512)
def check_schema_once(validator: type[Any], schema_json: str) -> None:
    """Raises SchemaError as `check_schema` does; only a schema that passed is remembered."""
    validator.check_schema(json.loads(schema_json))


def checked_validator(schema: Any, cls: type[Any] | None = None) -> type[Any]:
    """The validator class for `schema` (as `jsonschema.validate` picks it), once `schema` passed its check."""
    validator = cls or validator_for(schema)
    try:
        schema_json = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not JSON: nothing to remember it by
        validator.check_schema(schema)
    else:
        check_schema_once(validator, schema_json)
    return validator


def validate_checking_each_schema_once(
    instance: Any, schema: Any, cls: type[Any] | None = None, *args: Any, **kwargs: Any
) -> None:
    """`jsonschema.validate`, the schema's own check done once per process and content: the same
    ValidationError for a bad instance, the same SchemaError for a bad schema, every time."""
    validator = checked_validator(schema, cls)
    error = best_match(validator(schema, *args, **kwargs).iter_errors(instance))
    if error is not None:
        raise error


def check_each_param_schema_once() -> None:
    """From now on `jsonschema.validate` (which Airflow's Param imports when it validates) checks a schema once per
    process; our DAGs' param schemas are checked here, so the tasks forked after this check none."""
    jsonschema.validate = validate_checking_each_schema_once
    for make in DAG_PARAMS:
        for param in make().values():
            checked_validator(param.schema)


warm_up(do_what_a_task_does_first)
warm_up(share_adapters)
warm_up(check_each_param_schema_once)
warm_up(install)
warm_up(preparsed_dags.install)
