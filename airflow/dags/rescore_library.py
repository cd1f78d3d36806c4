"""rescore_library: after each promotion, re-predict every analysed song with the promoted model."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from hss_airflow.assets import TRAINED_MODEL
from hss_airflow.dag_defaults import DEFAULT_ARGS, SERVICES_POOL
from hss_airflow.rescore import (
    BATCH_SIZE,
    THREADS,
    newest_results,
    plan_batches,
    prediction_client,
    requested_model,
    rescore_batch,
    summarize,
)

DOC = f"""
# Rescore the library with the promoted model

Scheduled on the asset `hss_trained_model`, which `promote_model` updates when a training's model is
promoted (not when it is kept). Each run:

1. **list_results** — every song's newest result file `results/songs/<song_id>/<run_id>.json`;
2. **rescore_batch** (mapped, {BATCH_SIZE} files per task, {THREADS} predictions in flight, pool
   `{SERVICES_POOL}`) — `POST /predict/single` with the features the analysis stored (no audio is analysed
   again), pinned to the promoted model named in the asset event; the file keeps its original
   `prediction` and gains `rescores: [{{model_version, hit_probability, rescored_at, rescore_run_id}}]`
   (one entry per model; a rerun replaces it);
3. **summarize_rescore** — counts (rescored, skipped: not an analysis or unreadable, refused: a 4xx for
   that song) and each model used.

### Trigger
By hand, to rescore with the serving model (or pin `model_version`, a promoted one):
```bash
airflow dags trigger rescore_library --conf '{{"model_version": null}}'
```
"""


@dag(
    dag_id="rescore_library",
    schedule=[TRAINED_MODEL],
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "model_version": Param(
            None,
            type=["null", "string"],
            maxLength=200,
            title="Model version",
            description="A promoted model to score with; empty: the one the asset event names, else the serving one.",
        )
    },
    tags=["hss", "prediction", "assets"],
    doc_md=DOC,
    dag_display_name="Rescore the library",
)
def rescore_library() -> None:
    @task(task_id="list_results")
    def list_results() -> list[list[str]]:
        return plan_batches(newest_results())

    @task(task_id="rescore_batch", pool=SERVICES_POOL, map_index_template="{{ batch_label }}", multiple_outputs=False)
    def rescore(paths: list[str]) -> dict[str, Any]:
        context = get_current_context()
        context["batch_label"] = f"{len(paths)} songs"  # type: ignore[typeddict-unknown-key]
        return rescore_batch(paths, model_of(context), context["run_id"], prediction_client())

    # none_failed: an empty library maps no batch
    @task(task_id="summarize_rescore", trigger_rule="none_failed", multiple_outputs=False)
    def summarize_rescore(batches: list[dict[str, Any]]) -> dict[str, Any]:
        return summarize(list((batches or [])[:]), model_of(get_current_context()))

    summarize_rescore(rescore.expand(paths=list_results()))


def model_of(context: Any) -> str | None:
    events = context["triggering_asset_events"][TRAINED_MODEL]
    return requested_model(context["params"].get("model_version"), [e.extra for e in events])


rescore_library()
