"""dataset_triggered_training: wait for a new dataset in training_data/incoming/ and claim it; the asset event
it emits starts train_on_new_dataset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from hss_airflow.assets import TRAINING_DATASET
from hss_airflow.dag_defaults import DEFAULT_ARGS
from hss_airflow.incoming import CLAIMED, INCOMING, INCOMING_GLOB, NothingToClaim, claim_dataset
from hss_airflow.sensors import DataRootFileSensor

DOC = f"""
# Claim a new training dataset (sensor-triggered)

`wait_for_new_dataset` → `claim_dataset` ⇒ asset `hss_training_dataset` ⇒ DAG `train_on_new_dataset`.

**How to use:** put a dataset CSV (same format as for `ml_training_smart_ensemble`) into
`<data root>/{INCOMING}/`. Write it under another name (or a dot-name) and rename it in, so it is never
read half-written.

**How it works, and why this way:**
- The schedule is `@continuous` with `max_active_runs=1`: as soon as one run ends the next one starts
  watching. `wait_for_new_dataset` is a *deferrable* `FileSensor` on `{INCOMING_GLOB}`: while it waits,
  the FileTrigger polls in the triggerer and no worker slot is held. After 6 h without a file the sensor
  skips (soft fail) and a fresh run takes over, so waiting never piles up failed runs.
- `claim_dataset` moves the oldest CSV to `{CLAIMED}/` with one atomic rename, so a file is trained
  exactly once even if runs overlapped; a re-run of the same run keeps its claim. training_id =
  `<file stem>_<YYYYMMDDTHHMMSS>`. It emits the asset `hss_training_dataset`; the event's extra names the
  claimed file (`dataset_path`, `original_name`, `training_id`) and its partition key is the training_id.
- `train_on_new_dataset` is scheduled on that asset, partitioned: one training run per claimed file, even
  when several are claimed while a training runs. The Assets view reads dataset → training → model →
  rescore. An `AssetWatcher` was not used: the only file event trigger shipped with Airflow 3.3
  (`FileDeleteTrigger`) deletes the file it sees, and the dataset is the thing we need to keep.
"""


@dag(
    dag_id="dataset_triggered_training",
    schedule="@continuous",
    # A start date, so each run's data interval starts where the last one ended: without one, the first
    # interval is empty and the second run gets the first one's logical date ("run already exists", and the
    # watch stops after one file).
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["hss", "training", "sensor"],
    doc_md=DOC,
    dag_display_name="Claim a new training dataset",
)
def dataset_triggered_training() -> None:
    wait = DataRootFileSensor(
        task_id="wait_for_new_dataset",
        filepath=INCOMING_GLOB,
        deferrable=True,
        poke_interval=10.0,
        timeout=6 * 3600,
        soft_fail=True,
    )

    @task(task_id="claim_dataset", outlets=[TRAINING_DATASET], multiple_outputs=False)
    def claim() -> dict[str, Any]:
        context = get_current_context()
        when = context.get("logical_date") or context["dag_run"].run_after
        try:
            claimed = claim_dataset(context["run_id"], when)
        except NothingToClaim as exc:
            raise AirflowFailException(str(exc)) from None
        event = context["outlet_events"][TRAINING_DATASET]
        event.extra = claimed  # the asset event names the file
        event.add_partitions(claimed["training_id"])  # one train_on_new_dataset run per claimed file
        return claimed

    wait >> claim()


dataset_triggered_training()
