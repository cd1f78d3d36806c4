"""The Airflow side of hss-workflow: hooks, operators, sensors, triggers and the plain modules behind the DAGs.

Laid out as an Airflow provider: `hooks/` (WorkflowServiceHook and its async twin: the only modules that speak
HTTP to the services, with the connection, API key, timeouts, retry policy, contract validation and errors),
`operators/`, `sensors/`, `triggers/`; beside them the DAGs' plain modules (training_features, batch, results,
rescore, reports, incoming, params…) and the /hss pages (`web/`). Every path under the data root comes from
`contracts.data_layout`.

An installed package of the workspace (airflow/pyproject.toml; editable in the dev venv, a wheel in the
Airflow image), imported by name like any library: the DAG files in airflow/dags only wire tasks from it, and
airflow/plugins is left to real AirflowPlugins. It imports only `contracts` of this repository (import-linter
checks it in `make lint`). Map: docs/ARCHITECTURE.md.
"""
