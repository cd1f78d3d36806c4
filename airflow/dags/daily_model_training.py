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

### No dataset yet: the run is skipped, not failed
A fresh stack has no `training_data/daily.csv` until the first export, and its first run (the latest 02:00,
at start) would otherwise fail and mail an alert. When there is **no file** at `dataset_path`,
`validate_training_config` is *skipped*, and so is every task after it; the run ends *success* and no mail
goes out. The task log names the file it waits for, relative to the data root and absolute:
`No dataset yet: waiting for training_data/daily.csv in the data root (/app/data/training_data/daily.csv).
Nothing is wrong: …`. A file that **is** there but cannot train (not a CSV, no `is_hit`, empty, one class)
still fails the run and mails, as does a missing file in a manual `ml_training_smart_ensemble` run.
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
    build_training_chain(skip_missing_dataset=True)


daily_model_training()
