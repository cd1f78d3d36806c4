"""Bad input to workflow-ml-training: refused at once (path problems) or as a failed job (content problems)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.catalog import TRAINING_JOB, TRAINING_START
from contracts.errors import ErrorEnvelope
from contracts.training import JobStatus, TrainingJob
from fixtures import datasets
from services.ml_training.jobs import RESTART_ERROR, JobStore

URL = TRAINING_START.path


def error_code(response) -> str:
    return ErrorEnvelope.model_validate(response.json()).error.code


@pytest.mark.slow
@pytest.mark.parametrize(
    ("writer", "expected"),
    [
        (datasets.make_one_class_dataset, "only one class"),
        (datasets.make_missing_label_dataset, "no 'is_hit' column"),
        (datasets.make_non_numeric_dataset, "'tonal.key_edma.key'"),
        (datasets.make_too_few_rows_dataset, "too few rows"),
        (datasets.make_no_features_dataset, "no feature columns"),
        (datasets.make_empty_dataset, "empty"),
        (datasets.make_binary_dataset, "not a text CSV"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_bad_dataset_ends_as_a_failed_job_naming_the_problem(
    client, data_root: Path, wait_for_job, writer, expected: str
) -> None:
    writer(data_root / "training_data" / "bad.csv")
    r = client.post(URL, json={"training_id": "bad", "dataset_path": "training_data/bad.csv"})
    assert r.status_code == 202, r.text
    job, _ = wait_for_job(client, "bad")
    assert job["status"] == "failed"
    assert expected in job["error"] and "training_data/bad.csv" in job["error"]
    assert job["retryable"] is False  # a bad dataset stays bad: resubmitting cannot help
    assert job["model_version"] is None and job["metrics"] is None
    assert not (data_root / "models" / "bad" / "model.joblib").exists()
    assert not (data_root / "models" / "latest.json").exists()


@pytest.mark.slow
def test_a_failed_job_is_restarted_when_resubmitted(client, data_root: Path, wait_for_job) -> None:
    datasets.make_one_class_dataset(data_root / "training_data" / "d.csv")
    payload = {"training_id": "retry_me", "dataset_path": "training_data/d.csv"}
    assert client.post(URL, json=payload).status_code == 202
    failed, _ = wait_for_job(client, "retry_me")
    assert failed["status"] == "failed"
    datasets.make_features_dataset(data_root / "training_data" / "d.csv", n_rows=80)  # the data is fixed
    r = client.post(URL, json=payload)
    assert r.status_code == 202 and r.json()["existing"] is False
    job, _ = wait_for_job(client, "retry_me")
    assert job["status"] == "succeeded" and job["error"] is None


@pytest.mark.parametrize(
    ("dataset_path", "status", "code"),
    [
        ("../outside.csv", 403, "path_outside_data_root"),
        ("/etc/passwd", 403, "path_outside_data_root"),
        ("training_data/missing.csv", 404, "file_not_found"),
        ("training_data/notes.txt", 422, "not_a_csv"),
        ("training_data", 422, "not_a_file"),
        ("training_data/" + "x" * 300 + ".csv", 422, "invalid_path"),
    ],
)
def test_dataset_path_problems_are_refused_at_once(client, data_root: Path, dataset_path, status, code) -> None:
    (data_root.parent / "outside.csv").write_text("a,is_hit\n1,0\n")
    (data_root / "training_data" / "notes.txt").write_text("not a dataset")
    r = client.post(URL, json={"training_id": "t1", "dataset_path": dataset_path})
    assert r.status_code == status, r.text
    assert error_code(r) == code
    assert not (data_root / "models" / "t1").exists(), "no job is created for a refused request"


@pytest.mark.parametrize(
    "payload",
    [
        {"training_id": "../escape", "dataset_path": "training_data/x.csv"},
        {"training_id": "ok", "dataset_path": ""},
        {"training_id": "ok", "dataset_path": "training_data/x.csv", "cv_folds": 1},
        {"training_id": "ok", "dataset_path": "training_data/x.csv", "auc_floor": "high"},
        {"training_id": "ok", "dataset_path": "training_data/x.csv", "unexpected": 1},
        {"dataset_path": "training_data/x.csv"},
    ],
)
def test_invalid_requests_get_422_envelopes(client, payload) -> None:
    r = client.post(URL, json=payload)
    assert r.status_code == 422, r.text
    assert error_code(r) == "validation_error"


def test_unknown_job_is_a_404_envelope(client) -> None:
    r = client.get(TRAINING_JOB.format_path(job_id="never_submitted"))
    assert r.status_code == 404
    body = ErrorEnvelope.model_validate(r.json())
    assert body.error.code == "job_not_found" and "never_submitted" in body.error.message


@pytest.mark.parametrize("job_id", ["..", ".hidden", "a" * 200, "bad id"])
def test_an_invalid_job_id_is_refused_not_a_crash(client, job_id: str) -> None:
    r = client.get(TRAINING_JOB.format_path(job_id=job_id))
    assert r.status_code in (404, 422), r.text
    ErrorEnvelope.model_validate(r.json())


@pytest.mark.parametrize("left", [JobStatus.running, JobStatus.queued])
def test_a_job_left_unfinished_by_a_dead_service_is_failed_at_startup(
    data_root: Path, training_client, left: JobStatus
) -> None:
    JobStore(data_root).write(
        TrainingJob(
            job_id="orphan",
            training_id="orphan",
            dataset_path="training_data/x.csv",
            status=left,
            progress=0.4,
            stage="cross-validating svm (fold 2/5)",
            created_at=datetime.now(UTC),
            started_at=datetime.now(UTC),
        )
    )
    with training_client(data_root) as client:
        r = client.get(TRAINING_JOB.format_path(job_id="orphan"))
        ready = client.get("/ready")
    job = r.json()
    assert job["status"] == "failed" and job["error"] == RESTART_ERROR and "restarted" in job["error"]
    assert job["retryable"] is True
    assert job["progress"] == 0.4 and job["finished_at"] is not None
    assert ready.status_code == 200 and ready.json()["checks"]["worker_pool"] is True


def test_a_succeeded_job_record_is_left_alone_at_startup(data_root: Path, training_client) -> None:
    done = TrainingJob(
        job_id="done",
        training_id="done",
        dataset_path="training_data/x.csv",
        status=JobStatus.succeeded,
        progress=1.0,
        stage="succeeded",
        model_version="done@0123abcd",
        created_at=datetime.now(UTC),
    )
    JobStore(data_root).write(done)
    with training_client(data_root) as client:
        r = client.get(TRAINING_JOB.format_path(job_id="done"))
    assert TrainingJob.model_validate(r.json()) == done
