"""The model's way to production on the full stack: the human approval gate (approve and reject through the
REST API, as a reviewer's client would) and the rescore of the library that a promotion starts."""

from __future__ import annotations

import json
import time

from contracts.data_layout import TRAINING_DATA, DataLayout
from e2e.tests.full_stack.conftest import SONG_ID, SONG_PATH
from e2e.tests.full_stack.helpers import RUN_TIMEOUT, result_document, run_to_end, wait_for_task_state
from fixtures.datasets import make_features_dataset
from stack.base import Stack
from stack.client import AirflowClient
from stack.waiting import wait_until

DAG = "ml_training_smart_ensemble"


def train_awaiting_approval(client: AirflowClient, stack: Stack, training_id: str) -> str:
    """Start a training with promotion=approve and wait until promote_model asks; return the run id."""
    csv = make_features_dataset(DataLayout(stack.data_root).training_data / f"{training_id}.csv", n_rows=120, seed=21)
    csv.chmod(0o666)
    conf = {"dataset_path": f"{TRAINING_DATA}/{training_id}.csv", "training_id": training_id, "promotion": "approve"}
    run_id = client.trigger(DAG, conf).dag_run_id
    wait_for_task_state(client, DAG, run_id, "promote_model", {"awaiting_input"}, timeout=RUN_TIMEOUT)
    return run_id


def serving(stack: Stack) -> str | None:
    latest = DataLayout(stack.data_root).latest_model
    return json.loads(latest.read_text())["model_version"] if latest.exists() else None


def report_promotion(stack: Stack, training_id: str) -> dict:
    return json.loads((DataLayout(stack.data_root).training_report_of(training_id) / "report.json").read_text())[
        "promotion"
    ]


def test_the_assets_link_dataset_training_model_and_rescore(client: AirflowClient) -> None:
    """What the UI's Assets view draws: who updates each asset and which DAG it schedules."""
    dataset = client.asset("hss_training_dataset")
    assert {(t.dag_id, t.task_id) for t in dataset.producing_tasks} == {("dataset_triggered_training", "claim_dataset")}
    assert [d.dag_id for d in dataset.scheduled_dags] == ["train_on_new_dataset"]
    model = client.asset("hss_trained_model")
    assert {(t.dag_id, t.task_id) for t in model.producing_tasks} == {
        (dag_id, "promote_model") for dag_id in (DAG, "daily_model_training", "train_on_new_dataset")
    }
    assert [d.dag_id for d in model.scheduled_dags] == ["rescore_library"]


def test_an_approved_model_is_promoted_and_the_library_is_rescored_with_it(client: AirflowClient, stack: Stack) -> None:
    analysis = run_to_end(client, "comprehensive_analysis", {"song_id": SONG_ID, "song_path": SONG_PATH})
    analysed = client.xcom("comprehensive_analysis", analysis, "aggregate_results")
    training_id = f"e2e_approve_{int(time.time())}"
    run_id = train_awaiting_approval(client, stack, training_id)
    model = client.xcom(DAG, run_id, "aggregate_results")["model_version"]

    request = client.approval(DAG, run_id, "promote_model")
    assert request.subject == f"Promote {model}?" and request.options == ["Approve", "Reject"]
    assert "Approve" in request.body and model in request.body  # the AUC comparison is put before the reviewer
    assert serving(stack) != model  # nothing changes while it waits
    client.respond(DAG, run_id, "promote_model", "Approve")

    final = client.wait_for_run(DAG, run_id, timeout=RUN_TIMEOUT)
    assert final.state.value == "success"
    assert serving(stack) == model
    promotion = report_promotion(stack, training_id)
    assert promotion["promoted"] is True and promotion["decided_by"] == client.username
    assert promotion["reason"].startswith(f"approved by {client.username}: ")

    # The promotion's hss_trained_model event started rescore_library, pinned to this model.
    [event] = client.asset_events("hss_trained_model", source_run_id=run_id)
    assert event.extra["model_version"] == model
    rescore_run = wait_for_created_run(client, "hss_trained_model", run_id, "rescore_library")
    final = client.wait_for_run("rescore_library", rescore_run, timeout=RUN_TIMEOUT)
    assert final.state.value == "success"
    summary = client.xcom("rescore_library", rescore_run, "summarize_rescore")
    assert summary["models"] == [model] and summary["rescored"] >= 1 and summary["refused"] == 0
    document = result_document(stack.data_root, analysed)
    assert document["prediction"]["model_version"] == analysed["model_version"]  # the original stays
    [rescore] = [r for r in document["rescores"] if r["model_version"] == model]
    assert 0.0 <= rescore["hit_probability"] <= 1.0 and rescore["rescore_run_id"] == rescore_run


def test_a_rejected_model_is_kept_out_of_service(client: AirflowClient, stack: Stack) -> None:
    training_id = f"e2e_reject_{int(time.time())}"
    run_id = train_awaiting_approval(client, stack, training_id)
    before = serving(stack)
    client.respond(DAG, run_id, "promote_model", "Reject")

    final = client.wait_for_run(DAG, run_id, timeout=RUN_TIMEOUT)
    assert final.state.value == "success"  # a decision, not a failure
    [promote] = [ti for ti in client.task_instances(DAG, run_id) if ti.task_id == "promote_model"]
    assert promote.state.value == "skipped"
    assert serving(stack) == before
    promotion = report_promotion(stack, training_id)
    assert promotion["promoted"] is False and promotion["reason"].startswith(f"rejected by {client.username}: ")
    assert client.asset_events("hss_trained_model", source_run_id=run_id) == []  # so no rescore either


def wait_for_created_run(client: AirflowClient, asset: str, source_run_id: str, dag_id: str) -> str:
    """The run of `dag_id` the asset event of `source_run_id` created (the scheduler links them)."""

    def created_run() -> str | None:
        events = client.asset_events(asset, source_run_id=source_run_id)
        created = [r.run_id for event in events for r in event.created_dagruns if r.dag_id == dag_id]
        return created[0] if created else None

    if run_id := wait_until(created_run, 120, 0.5, f"a {dag_id} run", raise_on_timeout=False):
        return run_id
    raise AssertionError(f"no {dag_id} run was created from {asset}'s event of {source_run_id} in 120 s")
