"""The seed's DAG runs on the full stack, triggered through /api/v2 exactly as a user would."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from contracts.data_layout import DataLayout
from e2e.tests.full_stack.ahead import RunsAhead
from e2e.tests.full_stack.conftest import (
    BATCH_FOLDER,
    BATCH_SONGS,
    RAW_DATASET,
    RAW_SONGS,
    SONG_ID,
    SONG_PATH,
    WORKERS,
)
from e2e.tests.full_stack.helpers import RUN_TIMEOUT, await_run, result_document, run_to_end, task_states
from fixtures.datasets import make_features_dataset
from stack.base import Stack
from stack.client import AirflowClient
from stack.demo import failure_report
from stack.waiting import wait_until

PARTS = ("audio", "content", "prediction", "insights")
PART_TASKS = {
    "audio": "audio_analysis",
    "content": "content_analysis",
    "prediction": "hit_prediction",
    "insights": "ai_insights",
}


SEED_CONF = {"song_id": SONG_ID, "song_path": SONG_PATH}
# One song per mapped task: 8 tasks, enough that both workers get some (with 4 chunks of 2, Celery handed all
# four to one worker once). Chunks of the default size run in test_dag_runs.py of airflow/tests and the bench.
BATCH_CHUNK = 1
BATCH_CONF = {"folder": BATCH_FOLDER, "pattern": "*.wav", "chunk_size": BATCH_CHUNK}


def trigger_ahead(ahead: RunsAhead, stack: Stack) -> None:
    ahead.trigger("seed analysis", "comprehensive_analysis", SEED_CONF)
    ahead.trigger("batch", "batch_analysis", BATCH_CONF)


def analyse(client: AirflowClient, stack: Stack, run_id: str | None = None) -> tuple[str, dict, dict]:
    """Run comprehensive_analysis on the seed's song to success (or await `run_id`, triggered earlier)."""
    if run_id is None:
        run_id = run_to_end(client, "comprehensive_analysis", SEED_CONF)
    else:
        await_run(client, "comprehensive_analysis", run_id)
    summary = client.xcom("comprehensive_analysis", run_id, "aggregate_results")
    return run_id, summary, result_document(stack.data_root, summary)


@pytest.mark.both_backends
def test_seed_trigger_of_comprehensive_analysis_writes_all_four_parts(
    client: AirflowClient, stack: Stack, runs_ahead: RunsAhead
) -> None:
    ahead = runs_ahead.run("seed analysis")
    run_id, summary, document = analyse(client, stack, ahead.dag_run_id)
    took = time.monotonic() - ahead.triggered_at
    print(f"comprehensive_analysis trigger→success on the {stack.backend} stack (among the runs ahead): {took:.1f} s")

    assert summary["song_id"] == SONG_ID and document["song_id"] == SONG_ID
    assert document["run"]["run_id"] == run_id
    for part, task_id in PART_TASKS.items():
        assert document[part]["song_id"] == SONG_ID
        assert client.xcom("comprehensive_analysis", run_id, task_id)["song_id"] == SONG_ID
    assert len(document["audio"]["features"]) >= 150
    assert abs(document["audio"]["highlights"]["tempo_bpm"] - 124) < 2
    assert document["content"]["features"]["lyrics.line_count"] > 0  # the sidecar's lyrics were read
    assert 0.0 <= document["prediction"]["hit_probability"] <= 1.0
    assert document["insights"]["recommendations"]


def test_training_on_raw_rows_gives_a_new_model_that_the_next_analysis_uses(
    client: AirflowClient, stack: Stack
) -> None:
    latest = DataLayout(stack.data_root).latest_model
    before = json.loads(latest.read_text())["model_version"] if latest.exists() else None
    training_id = f"e2e_{int(time.time())}"
    conf = {
        "dataset_path": f"training_data/{RAW_DATASET}.csv",
        "training_id": training_id,
        "batch_size": 12,
        "max_concurrent_requests": 4,
    }
    run_id = run_to_end(client, "ml_training_smart_ensemble", conf)

    trained = client.xcom("ml_training_smart_ensemble", run_id, "aggregate_results")
    assert trained["model_version"] and trained["model_version"] != before
    extracted = [
        key
        for key, (state, _) in task_states(client, "ml_training_smart_ensemble", run_id).items()
        if key[0].endswith("extract_batch_features") and state == "success"
    ]
    assert len(extracted) == RAW_SONGS // 12  # the rows needed features: two mapped extraction batches ran
    # promotion=auto (the default) over the baseline: promoted, so prediction serves it from now on
    promoted = client.xcom("ml_training_smart_ensemble", run_id, "promote_model")
    assert promoted["promoted"] is True and promoted["serving"]["model_version"] == trained["model_version"]
    assert json.loads(latest.read_text())["model_version"] == trained["model_version"]

    _, summary, document = analyse(client, stack)
    assert summary["model_version"] == document["prediction"]["model_version"] == trained["model_version"]


@pytest.mark.both_backends
def test_a_new_dataset_file_is_claimed_and_its_asset_event_starts_a_training(
    client: AirflowClient, stack: Stack
) -> None:
    incoming = DataLayout(stack.data_root).incoming
    incoming.mkdir(parents=True, exist_ok=True)
    name = f"e2e_drop_{int(time.time())}.csv"
    staged = make_features_dataset(incoming / f".{name}", n_rows=120)  # dot-names are not picked up
    os.chmod(staged, 0o666)
    os.rename(staged, incoming / name)  # appears complete, never half-written

    started = time.monotonic()

    def claiming_run():
        for run in client.list_runs("dataset_triggered_training", limit=10):
            if run.state.value != "success":
                continue
            claimed = client.xcom("dataset_triggered_training", run.dag_run_id, "claim_dataset")
            if claimed["original_name"] == name:
                return run, claimed
        return None

    found = wait_until(claiming_run, RUN_TIMEOUT, 0.5, f"the run claiming {name}", raise_on_timeout=False)
    if not found:
        raise AssertionError(f"no successful dataset_triggered_training run claimed {name} in {RUN_TIMEOUT:.0f} s")
    run, claimed = found
    assert not (incoming / name).exists()  # claimed (moved), so it is trained exactly once
    # the claim emitted hss_training_dataset, naming the file, partitioned by its training_id
    [event] = client.asset_events("hss_training_dataset", source_run_id=run.dag_run_id)
    assert event.source_task_id == "claim_dataset" and event.extra == claimed
    assert event.partition_key == claimed["training_id"]
    left = RUN_TIMEOUT - (time.monotonic() - started)
    training = wait_for_partition_run(client, "train_on_new_dataset", claimed["training_id"], left)
    report = client.xcom("train_on_new_dataset", training, "aggregate_results")
    assert report["training_id"] == claimed["training_id"] and report["rows"] == 120
    # and the watch goes on: a new continuous run waits for the next file
    assert any(r.run_after > run.run_after for r in client.list_runs("dataset_triggered_training", 5))


def wait_for_partition_run(client: AirflowClient, dag_id: str, partition_key: str, timeout: float) -> str:
    """The run the asset event of `partition_key` created, once it succeeded."""
    started = time.monotonic()

    def partition_run():
        mine = [r for r in client.list_runs(dag_id, limit=20) if r.partition_key == partition_key]
        return mine[0] if mine else None

    mine = wait_until(partition_run, max(1.0, timeout), 0.5, f"a {dag_id} run", raise_on_timeout=False)
    if mine is None:
        raise AssertionError(f"no {dag_id} run for partition {partition_key!r}")
    left = max(1.0, timeout - (time.monotonic() - started))
    final = client.wait_for_run(dag_id, mine.dag_run_id, timeout=left)
    assert final.state.value == "success", failure_report(client, dag_id, final.dag_run_id)
    assert final.run_type.value == "asset_triggered", final.run_type
    return final.dag_run_id


@pytest.mark.both_backends
def test_batch_analysis_maps_one_task_per_song_and_spreads_them_over_the_workers(
    client: AirflowClient, stack: Stack, runs_ahead: RunsAhead
) -> None:
    run_id = await_run(client, "batch_analysis", runs_ahead.run("batch").dag_run_id)
    mapped = [ti for ti in client.task_instances("batch_analysis", run_id) if ti.task_id == "audio_analysis"]
    chunks = BATCH_SONGS // BATCH_CHUNK
    assert len(mapped) == chunks and all(ti.state.value == "success" for ti in mapped)
    hosts = {ti.hostname for ti in mapped}
    print(f"batch_analysis: {chunks} mapped tasks of {BATCH_CHUNK} songs on {stack.backend}'s workers {sorted(hosts)}")
    assert len(hosts) == WORKERS, f"every mapped task ran on one of {WORKERS} workers, seen: {hosts}"
    summary = client.xcom("batch_analysis", run_id, "summarize_batch")
    assert (summary["total"], summary["analysed"]) == (BATCH_SONGS, BATCH_SONGS)
    document = json.loads((stack.data_root / summary["result_path"]).read_text())
    for song in document["songs"]:  # each analysis is a file of the data root; XCom carried its digest
        data = (stack.data_root / song["analysis_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == song["sha256"], song["song_id"]
        assert json.loads(data)["feature_count"] == song["feature_count"] >= 150
    outcomes = client.xcom("batch_analysis", run_id, "audio_analysis", map_index=0)
    assert len(outcomes) == BATCH_CHUNK and "features" not in json.dumps(outcomes)
