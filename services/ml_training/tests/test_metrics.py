"""hss_training_jobs{state} at /metrics: the job records on disk, counted when scraped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from contracts.catalog import TRAINING_JOB, TRAINING_START
from contracts.training import JobStatus, TrainingJob
from fixtures.datasets import make_features_dataset
from services.common.model_artifacts import job_path
from services.ml_training.jobs import JobStore


def jobs_by_state(client: TestClient) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        sample.labels["state"]: sample.value
        for family in text_string_to_metric_families(response.text)
        if family.name == "hss_training_jobs"
        for sample in family.samples
    }


def record(job_id: str, status: JobStatus) -> TrainingJob:
    return TrainingJob(
        job_id=job_id,
        training_id=job_id,
        dataset_path="training_data/x.csv",
        status=status,
        progress=1.0 if status.finished else 0.0,
        stage=status.value,
        created_at=datetime.now(UTC),
    )


def test_every_state_is_exported_from_the_start_at_zero(client: TestClient) -> None:
    assert jobs_by_state(client) == {"queued": 0, "running": 0, "succeeded": 0, "failed": 0}


def test_jobs_are_counted_from_their_records_at_each_scrape(data_root: Path, training_client) -> None:
    store = JobStore(data_root)
    store.write(record("done", JobStatus.succeeded))
    store.write(record("orphan", JobStatus.running))  # its process is gone: failed at startup
    job_path(data_root, "garbled").parent.mkdir(parents=True)
    job_path(data_root, "garbled").write_text("{not json")  # GET reports an unreadable record as failed
    with training_client(data_root) as client:
        assert jobs_by_state(client) == {"queued": 0, "running": 0, "succeeded": 1, "failed": 2}
        assert client.get(TRAINING_JOB.format_path(job_id="garbled")).json()["status"] == "failed"

        store.write(record("next", JobStatus.queued))  # as the worker process writes them, behind the service
        assert jobs_by_state(client) == {"queued": 1, "running": 0, "succeeded": 1, "failed": 2}
        store.write(record("next", JobStatus.running))
        assert jobs_by_state(client) == {"queued": 0, "running": 1, "succeeded": 1, "failed": 2}
        job_path(data_root, "next").unlink()
        assert jobs_by_state(client) == {"queued": 0, "running": 0, "succeeded": 1, "failed": 2}


@pytest.mark.slow  # a real training in the worker process
def test_a_submitted_job_is_counted_queued_or_running_then_succeeded(
    client: TestClient, data_root: Path, wait_for_job
) -> None:
    make_features_dataset(data_root / "training_data" / "hits.csv", n_rows=80)
    payload = {"training_id": "counted", "dataset_path": "training_data/hits.csv"}
    assert client.post(TRAINING_START.path, json=payload).status_code == 202
    active = jobs_by_state(client)
    assert active["queued"] + active["running"] == 1 and active["succeeded"] == active["failed"] == 0
    job, _ = wait_for_job(client, "counted")
    assert job["status"] == "succeeded", job
    assert jobs_by_state(client) == {"queued": 0, "running": 0, "succeeded": 1, "failed": 0}
