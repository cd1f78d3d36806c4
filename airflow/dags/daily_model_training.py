"""daily_model_training: retrain the smart ensemble every night at 02:00 on the configured dataset."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from hss_airflow.dag_defaults import DEFAULT_ARGS
from hss_airflow.params import daily_training_params
from hss_airflow.training_dag import TRAINING_DOC, build_training_chain

DOC = f"""
# Daily model training

Every day at 02:00 (`0 2 * * *`, UTC), no catch-up: a paused or new deployment does not replay missed days,
only the latest one runs. Same chain as `ml_training_smart_ensemble` on `dataset_path` (default
`training_data/daily.csv`, whatever the nightly export writes there), with
`training_id = <training_id_prefix>_<YYYYMMDD>` of the logical date. The training service treats the
training_id as the idempotency key: a second run on the same day returns that day's job.
{TRAINING_DOC}
### Trigger by hand
```bash
airflow dags trigger daily_model_training --conf '{{"dataset_path": "training_data/daily.csv"}}'
```
"""


@dag(
    dag_id="daily_model_training",
    schedule="0 2 * * *",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=daily_training_params(),
    tags=["hss", "training", "scheduled"],
    doc_md=DOC,
    dag_display_name="Daily model training",
)
def daily_model_training() -> None:
    build_training_chain()


daily_model_training()
