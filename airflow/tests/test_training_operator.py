"""MLTrainingOperator and MLTrainingJobTrigger against the real workflow-ml-training (deferred, synchronous, a
failed job) and a scripted fake one (transient errors, a service that stays down)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from contracts.catalog import TRAINING, TRAINING_JOB
from contracts.training import TrainingJob
from fixtures.datasets import make_features_dataset, make_one_class_dataset
from fixtures.http_fakes import UNAVAILABLE
from hss_airflow.operators import MLTrainingOperator
from hss_airflow.triggers import MLTrainingJobTrigger
from stack.processes import free_port

pytestmark = pytest.mark.usefixtures("execute_outside_task_runner")

CONTEXT: Any = {}  # the operators read nothing from the context
FAKE_JOB = dict(job_id="fake_job", training_id="fake_job", dataset_path="training_data/f.csv", status="running")
FAKE_JOB |= dict(progress=0.4, stage="cross-validating", created_at="2026-01-01T00:00:00Z")


def ok(body: Any) -> tuple[int, Any, dict[str, str], float]:
    return (200, body, {}, 0.0)


def first_event(trigger: MLTrainingJobTrigger, timeout: float = 120.0) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), timeout))


@pytest.fixture(scope="module")
def features_csv(live_services: dict[str, str], airflow_data_root: Path) -> str:
    make_features_dataset(airflow_data_root / "training_data" / "features" / "ops.csv", n_rows=160)
    return "training_data/features/ops.csv"


def test_training_defers_to_the_trigger_and_completes_with_a_model(features_csv: str) -> None:
    op = MLTrainingOperator(task_id="t", training_id="ops_deferred", dataset_path=features_csv, poll_interval=0.3)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(CONTEXT)
    trigger = deferred.value.trigger
    assert isinstance(trigger, MLTrainingJobTrigger) and deferred.value.method_name == "execute_complete"
    # Forcing a retrain while the job runs is a 409: fail fast.
    forced = MLTrainingOperator(task_id="t", training_id="ops_deferred", dataset_path=features_csv, force=True)
    with pytest.raises(AirflowFailException, match="HTTP 409 job_active"):
        forced.execute(CONTEXT)
    # What the triggerer does: rebuild the trigger from its serialized form, run it until its event.
    classpath, kwargs = trigger.serialize()
    assert classpath == "hss_airflow.triggers.MLTrainingJobTrigger"
    assert kwargs == {
        "job_id": "ops_deferred",
        "conn_id": TRAINING.conn_id,
        "poll_interval": 0.3,
        "request_timeout": 120.0,
        "max_consecutive_failures": 10,
    }  # no API key: the triggerer resolves the connection itself
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    event = first_event(rebuilt)
    job = TrainingJob.model_validate(op.execute_complete(CONTEXT, event))
    assert job.status == "succeeded" and job.model_version and job.metrics is not None
    # A rerun (task retry, DAG rerun) finds the finished job and returns it without deferring.
    again = MLTrainingOperator(task_id="t", training_id="ops_deferred", dataset_path=features_csv).execute(CONTEXT)
    assert again["model_version"] == job.model_version


def test_a_failed_training_job_fails_the_task_with_the_jobs_error(airflow_data_root: Path, features_csv: str) -> None:
    make_one_class_dataset(airflow_data_root / "training_data" / "features" / "one_class.csv")
    op = MLTrainingOperator(
        task_id="t", training_id="ops_one_class", dataset_path="training_data/features/one_class.csv", poll_interval=0.3
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(CONTEXT)
    event = first_event(deferred.value.trigger)
    assert event["status"] == "finished" and event["job"]["status"] == "failed"
    with pytest.raises(AirflowFailException, match=r"training job .ops_one_class. failed: .*only one class"):
        op.execute_complete(CONTEXT, event)


def test_training_without_deferral_polls_in_the_task(features_csv: str) -> None:
    op = MLTrainingOperator(
        task_id="t", training_id="ops_sync", dataset_path=features_csv, deferrable=False, poll_interval=0.3
    )
    job = TrainingJob.model_validate(op.execute(CONTEXT))
    assert job.status == "succeeded" and job.model_version and job.training_id == "ops_sync"


def test_trigger_reports_an_unknown_job_as_a_permanent_error(live_services: dict[str, str]) -> None:
    event = first_event(MLTrainingJobTrigger(job_id="no_such_job", poll_interval=0.1))
    assert event["status"] == "error" and not event["retryable"] and "HTTP 404 job_not_found" in event["message"]
    op = MLTrainingOperator(task_id="t", training_id="no_such_job", dataset_path="training_data/x.csv")
    with pytest.raises(AirflowFailException, match="job_not_found"):
        op.execute_complete(CONTEXT, event)


def test_trigger_polls_through_transient_errors(fake_service: Callable[..., Any]) -> None:
    done = {**FAKE_JOB, "status": "succeeded", "progress": 1.0, "stage": "done", "model_version": "fake_job@1"}
    service, conn_id = fake_service(
        (503, UNAVAILABLE, {}, 0.0), (502, None, {}, 0.0), ok(FAKE_JOB), (500, UNAVAILABLE, {}, 0.0), ok(done)
    )
    event = first_event(MLTrainingJobTrigger(job_id="fake_job", conn_id=conn_id, poll_interval=0.01))
    assert event == {"status": "finished", "job": TrainingJob.model_validate(done).model_dump(mode="json")}
    assert len(service.calls) == 5 and all(
        c["path"] == TRAINING_JOB.format_path(job_id="fake_job") for c in service.calls
    )
    assert service.calls[0]["headers"]["X-API-Key"] == "fake-key"


def test_trigger_gives_up_after_consecutive_connection_failures_as_retryable(
    http_connection: Callable[..., str],
) -> None:
    http_connection("training_down", free_port())
    trigger = MLTrainingJobTrigger(job_id="j", conn_id="training_down", poll_interval=0.01, max_consecutive_failures=3)
    event = first_event(trigger)
    assert event["status"] == "error" and event["retryable"] and "3 consecutive failed polls" in event["message"]
    op = MLTrainingOperator(task_id="t", training_id="j", dataset_path="training_data/x.csv", conn_id="training_down")
    with pytest.raises(AirflowException) as info:
        op.execute_complete(CONTEXT, event)
    assert not isinstance(info.value, AirflowFailException)
