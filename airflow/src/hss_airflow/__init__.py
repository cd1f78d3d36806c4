"""The Airflow side of hss-workflow: operators, triggers and the plain modules behind the DAGs.

An installed package of the workspace (airflow/pyproject.toml; editable in the dev venv, a wheel in the
Airflow image), imported by name like any library: the DAG files in airflow/dags only wire tasks from it, and
airflow/plugins is left to real AirflowPlugins. It speaks HTTP to the services and imports only `contracts`
of this repository (import-linter checks it in `make lint`). Map: docs/ARCHITECTURE.md.
"""
