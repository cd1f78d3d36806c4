"""The training task chain, shared by ml_training_smart_ensemble, daily_model_training and
train_on_new_dataset (one definition, no copies):

    validate_training_config -> process_training_dataset [plan_batches -> extract_batch_features (mapped)
    -> merge_features] -> smart_ensemble_training (deferrable MLTrainingOperator) -> aggregate_results
    -> promote_model (PromoteModelOperator)

Where the config comes from differs per DAG and is resolved in validate_training_config:
- ml_training_smart_ensemble: params dataset_path + training_id (both required);
- daily_model_training: params dataset_path + training_id_prefix; training_id = <prefix>_<YYYYMMDD> of the
  logical date (of run_after for a manual run without one);
- train_on_new_dataset: the `hss_training_dataset` event that triggered the run (the claimed file +
  training_id; `from_claim=True`).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import XComArg, get_current_context, task, task_group
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from hss_airflow.assets import TRAINING_DATASET
from hss_airflow.dag_defaults import AUDIO_POOL, AUDIO_QUEUE, SERVICES_POOL
from hss_airflow.incoming import NotTriggeredByAClaim, claim_of_events
from hss_airflow.operators import MLTrainingOperator, PromoteModelOperator
from hss_airflow.promotion import AUC_TOLERANCE
from hss_airflow.reports import training_report, write_training_report
from hss_airflow.training_features import (
    PARALLEL_BATCHES,
    DatasetError,
    DatasetMissing,
    check_training_config,
    merge_features,
    plan_dataset,
)
from hss_airflow.training_features import run_batch as extract_batch

log = logging.getLogger(__name__)

GROUP_ID = "process_training_dataset"
MERGE_TASK_ID = f"{GROUP_ID}.merge_features"
CV_FOLDS = 5
AUC_FLOOR = 0.55

TRAINING_DOC = f"""
### How the training chain works
1. **validate_training_config** refuses a config that cannot train (no retry): dataset missing or outside
   the data root, not a CSV, unreadable, no `is_hit` or not 0/1, one class only, rows with neither
   feature values nor a `song_path`. A scheduled DAG (`daily_model_training`) skips the run instead when
   the file is not there yet.
2. **process_training_dataset** (task group): `plan_batches` cuts the rows *without* features into
   batches of `batch_size`; `extract_batch_features` is mapped, one task per batch, in pool `{AUDIO_POOL}`
   with at most **{PARALLEL_BATCHES} batches running at once per run** (`max_active_tis_per_dagrun`), each
   keeping `max_concurrent_requests // {PARALLEL_BATCHES}` requests in flight to workflow-audio/-content, so
   the run never has more than `max_concurrent_requests` open (a budget of 1 makes all rows one batch,
   one request at a time); `merge_features` writes
   `training_data/features/<training_id>.csv` (features + `is_hit`) atomically. Songs a service refuses
   (4xx) are dropped and reported; more than 20% dropped fails the run.
3. **smart_ensemble_training** starts the job on workflow-ml-training and *defers*: the trigger polls the
   job in the triggerer, the worker slot is free. Resubmitting the same training_id returns the existing
   job (idempotent retries).
4. **aggregate_results** writes `results/training/<training_id>/report.json` (metrics per model and the
   ensemble, dataset stats, dropped rows) and `feature_importances.png` next to it.
5. **promote_model** decides whether prediction serves the new model, by conf `promotion`:
   `auto` (default) promotes unless its cross-validated AUC is more than **{AUC_TOLERANCE}** below the
   serving model's; `approve` waits (state *awaiting input*, no worker slot) for a person to Approve or
   Reject under *Required actions* or through the REST API (no answer in 24 h rejects); `never` keeps the
   serving model. Promoted: the task succeeds and updates the asset `hss_trained_model`, which runs
   `rescore_library`. Kept: the task is *skipped* with the reason (no asset event). Either way the
   decision is in the task log and in the report's `promotion`.
"""


def _fail_on_bad_input(fn, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except DatasetError as exc:
        raise AirflowFailException(str(exc)) from None


def waiting_for(exc: DatasetMissing) -> str:
    """The skip reason of a scheduled training whose dataset is not there yet."""
    return (
        f"No dataset yet: waiting for {exc.relative} in the data root ({exc.absolute}). Nothing is wrong: this "
        "run trains nothing and ends skipped, no alert is sent. Put the export there and the next run trains on it."
    )


def build_training_chain(*, from_claim: bool = False, skip_missing_dataset: bool = False) -> tuple[Any, Any]:
    """Add the chain to the DAG being defined; return (first task, last task) for wiring around it.

    With `from_claim`, the dataset and training_id come from the run's `hss_training_dataset` event (the
    DAG is scheduled on that asset) and the first task declares the asset as its inlet.
    With `skip_missing_dataset` (a scheduled DAG), no file at dataset_path skips the run instead of failing
    it: a fresh stack has no export yet, and that is not an error. A file that is there but broken fails."""

    @task(task_id="validate_training_config", inlets=[TRAINING_DATASET] if from_claim else [], multiple_outputs=False)
    def validate_training_config() -> dict[str, Any]:
        context = get_current_context()
        params = dict(context["params"])
        if from_claim:
            events = context["triggering_asset_events"][TRAINING_DATASET]
            try:
                claimed = claim_of_events([e.extra for e in events], context["dag_run"].partition_key)
            except NotTriggeredByAClaim as exc:
                raise AirflowFailException(str(exc)) from None
            params.update(dataset_path=claimed["dataset_path"], training_id=claimed["training_id"])
        if not params.get("training_id"):
            when = context.get("logical_date") or context["dag_run"].run_after
            params["training_id"] = f"{params['training_id_prefix']}_{when:%Y%m%d}"
        try:
            return check_training_config(params)
        except DatasetMissing as exc:
            if not skip_missing_dataset:
                raise AirflowFailException(str(exc)) from None
            log.info(waiting_for(exc))
            raise AirflowSkipException(waiting_for(exc)) from None
        except DatasetError as exc:
            raise AirflowFailException(str(exc)) from None

    @task(task_id="plan_batches")
    def plan_batches(config: dict[str, Any]) -> list[dict[str, Any]]:
        return _fail_on_bad_input(plan_dataset, config)

    @task(
        task_id="extract_batch_features",
        pool=AUDIO_POOL,
        queue=AUDIO_QUEUE,
        max_active_tis_per_dagrun=PARALLEL_BATCHES,
        map_index_template="{{ batch_label }}",
        multiple_outputs=False,
    )
    def extract_batch_features(config: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
        rows = batch["rows"]
        get_current_context()["batch_label"] = f"batch {batch['batch']}: {len(rows)} rows"  # type: ignore[typeddict-unknown-key]
        return _fail_on_bad_input(extract_batch, config, batch)

    # none_failed_min_one_success: runs when no row needed extraction (the mapped task is skipped), but not
    # when validate_training_config skipped the run (none_failed would run it on a config that is not there).
    # multiple_outputs: smart_ensemble_training pulls its training_id and dataset_path keys. Every other task
    # returning a dict says multiple_outputs=False: each key would be one more XCom write through the API.
    @task(task_id="merge_features", trigger_rule="none_failed_min_one_success", multiple_outputs=True)
    def merge(config: dict[str, Any], batches: list[dict[str, Any]]) -> dict[str, Any]:
        # A slice is one XCom query (iterating a lazy sequence probes one index past its end).
        return _fail_on_bad_input(merge_features, config, list((batches or [])[:]))

    @task_group(group_id=GROUP_ID, tooltip="Extract features of the rows that lack them; write the features CSV")
    def process_training_dataset(config: XComArg) -> XComArg:
        batches = plan_batches(config)
        parts = extract_batch_features.partial(config=config).expand(batch=batches)
        return merge(config, parts)

    @task(task_id="aggregate_results", multiple_outputs=False)
    def aggregate_results(job: dict[str, Any]) -> dict[str, Any]:
        context = get_current_context()
        dataset = context["ti"].xcom_pull(task_ids=MERGE_TASK_ID)  # not an argument: keeps the graph a chain
        run = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"]}
        return write_training_report(training_report(job, dataset, run), auc_floor=AUC_FLOOR)

    config = validate_training_config()
    features = process_training_dataset(config)
    training = MLTrainingOperator(
        task_id="smart_ensemble_training",
        training_id=features["training_id"],
        dataset_path=features["dataset_path"],
        cv_folds=CV_FOLDS,
        auc_floor=AUC_FLOOR,
        deferrable=True,
        poll_interval=2.0,
        pool=SERVICES_POOL,
        doc_md="Starts the smart-ensemble job and defers; the trigger polls GET /train/jobs/{job_id}.",
    )
    promote = PromoteModelOperator(
        task_id="promote_model",
        summary=aggregate_results(training.output),
        mode="{{ params.promotion }}",
        pool=SERVICES_POOL,
        doc_md="Promotes the new model, keeps the serving one (skipped, with the reason) or asks a person.",
    )
    return config, promote
