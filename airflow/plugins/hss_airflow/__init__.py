"""Behaviour behind the HSS DAGs, as plain importable modules (the DAG files in airflow/dags only wire tasks).

Airflow puts airflow/plugins on sys.path, so this package is imported as `hss_airflow`. The modules are
unit-tested without an Airflow run (airflow/tests/test_dag_logic.py, test_service_calls.py). Only
`training_dag` (the shared training task chain) and `incoming` (the data-root FileSensor) define Airflow
tasks or operators; `service_calls` is the operators' plain logic, which `feature_client` reuses.
"""
