"""train_on_new_dataset: train the smart ensemble on each dataset dataset_triggered_training claims."""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag

from hss_airflow.assets import TRAINING_DATASET
from hss_airflow.dag_defaults import DEFAULT_ARGS
from hss_airflow.params import promotion_params, tuning_params
from hss_airflow.training_dag import TRAINING_DOC, build_training_chain

DOC = f"""
# Training on a claimed dataset (asset-scheduled)

Scheduled on the asset `hss_training_dataset`, which `dataset_triggered_training` updates each time it
claims a CSV dropped into `training_data/incoming/`. The schedule is *partitioned* by the claim's
training_id: every claimed file gets its own run, even when several arrive while a training runs.
`validate_training_config` reads the file and training_id from the run's asset event; the rest is the
chain every training DAG shares (same code as `ml_training_smart_ensemble`).

### Trigger
Not by hand: **How to use** is to drop a CSV into `training_data/incoming/` (see `dataset_triggered_training`).
A run triggered without an event fails at once and says what to do instead (drop a file in, or trigger
`ml_training_smart_ensemble`). A failed training is retried by clearing its run: the event stays.
{TRAINING_DOC}
"""


@dag(
    dag_id="train_on_new_dataset",
    schedule=PartitionedAssetTimetable(assets=TRAINING_DATASET),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={**tuning_params(), **promotion_params()},
    tags=["hss", "training", "assets"],
    doc_md=DOC,
    dag_display_name="Training on a claimed dataset",
)
def train_on_new_dataset() -> None:
    build_training_chain(from_claim=True)


train_on_new_dataset()
