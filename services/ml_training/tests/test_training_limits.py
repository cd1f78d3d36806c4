"""Capped training: 429 `too_many_jobs` (with Retry-After) beyond HSS_TRAINING_MAX_QUEUED_JOBS, 413
`dataset_too_large` beyond HSS_TRAINING_MAX_DATASET_BYTES / _ROWS before the dataset is read into memory, and
the same row cap enforced again by the worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.catalog import TRAINING_START
from contracts.errors import ErrorEnvelope
from contracts.training import JobStatus, TrainingJob
from fixtures.datasets import features_frame, make_features_dataset
from services.conftest import TEST_SIGNING_KEY
from services.ml_training import limits
from services.ml_training.jobs import JobStore, run_training_job
from services.ml_training.limits import DatasetLimits, count_rows
from services.ml_training.settings import TrainingSettings


def start(client, training_id: str, dataset: str):
    return client.post(TRAINING_START.path, json={"training_id": training_id, "dataset_path": dataset, "cv_folds": 3})


def assert_too_large(response, what: str) -> None:
    assert response.status_code == 413, response.text
    error = ErrorEnvelope.model_validate(response.json()).error
    assert error.code == "dataset_too_large" and what in error.message, error


def test_the_defaults() -> None:
    settings = TrainingSettings(api_key="k" * 20, model_signing_key="s" * 20)
    assert settings.training_max_queued_jobs == 4
    assert settings.training_max_dataset_bytes == 50 * 1024 * 1024
    assert settings.training_max_dataset_rows == 200_000


def test_a_dataset_over_the_byte_cap_is_refused_from_its_size_without_reading_it(
    data_root: Path, training_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (data_root / "training_data" / "huge.csv").open("wb") as fh:  # sparse: 51 MiB on paper, nothing on disk
        fh.truncate(51 * 1024 * 1024)

    def never(*_args, **_kwargs):
        raise AssertionError("the dataset was read although its size alone refuses it")

    monkeypatch.setattr(limits, "count_rows", never)
    client = training_client(data_root)  # no lifespan: the refusal comes before any job or worker
    r = start(client, "huge", "training_data/huge.csv")
    assert_too_large(r, "HSS_TRAINING_MAX_DATASET_BYTES=52428800")
    assert JobStore(data_root).read("huge") is None


def test_a_dataset_over_the_row_cap_is_refused_and_one_at_the_cap_accepted(data_root: Path, training_client) -> None:
    make_features_dataset(data_root / "training_data" / "over.csv", n_rows=51)
    make_features_dataset(data_root / "training_data" / "at.csv", n_rows=50)
    with training_client(data_root, training_max_dataset_rows=50) as client:
        over = start(client, "over", "training_data/over.csv")
        at = start(client, "at", "training_data/at.csv")
    assert_too_large(over, "HSS_TRAINING_MAX_DATASET_ROWS=50")
    assert over.json()["error"]["details"]["max_rows"] == 50
    assert JobStore(data_root).read("over") is None
    assert at.status_code == 202, at.text


def test_rows_are_csv_records_not_lines(tmp_path: Path) -> None:
    frame = features_frame(n_rows=30, seed=3)
    frame["lyrics"] = "line one\nline two\nline three"  # quoted newlines inside one field
    path = tmp_path / "lyrics.csv"
    frame.to_csv(path, index=False)
    assert path.read_text().count("\n") > 90
    assert count_rows(path, stop_after=1000) == 30
    assert count_rows(path, stop_after=10) == 10  # stops early: a huge file is not read to its end


def test_the_worker_enforces_the_row_cap_too(data_root: Path) -> None:
    """A dataset that grew after its request was accepted: the job fails saying so, nothing is saved."""
    dataset = make_features_dataset(data_root / "training_data" / "grown.csv", n_rows=80)
    store = JobStore(data_root)
    store.write(
        TrainingJob(
            job_id="grown",
            training_id="grown",
            dataset_path="training_data/grown.csv",
            status=JobStatus.queued,
            progress=0.0,
            created_at=datetime.now(UTC),
        )
    )
    capped = DatasetLimits(max_bytes=50 * 1024 * 1024, max_rows=40)
    config = {"cv_folds": 3, "auc_floor": 0.55, "random_state": 42}
    key = TEST_SIGNING_KEY.encode()
    assert run_training_job(str(data_root), "grown", str(dataset), config, signing_key=key, limits=capped) == "failed"
    job = store.read("grown")
    assert job is not None and job.status == "failed"
    assert "HSS_TRAINING_MAX_DATASET_ROWS=40" in (job.error or "")
    assert not (data_root / "models" / "grown" / "model.joblib").exists()
    tiny = DatasetLimits(max_bytes=1000, max_rows=1000)
    store.write(job.model_copy(update={"status": JobStatus.queued}))
    assert run_training_job(str(data_root), "grown", str(dataset), config, signing_key=key, limits=tiny) == "failed"
    assert "HSS_TRAINING_MAX_DATASET_BYTES=1000" in (store.read("grown").error or "")


def test_more_jobs_than_the_cap_get_429_with_retry_after(data_root: Path, training_client) -> None:
    make_features_dataset(data_root / "training_data" / "big.csv", n_rows=600, seed=3)  # several seconds each
    with training_client(data_root, training_max_queued_jobs=2, training_workers=1) as client:
        first = start(client, "first", "training_data/big.csv")
        second = start(client, "second", "training_data/big.csv")  # queued behind the first
        third = start(client, "third", "training_data/big.csv")
        again = start(client, "first", "training_data/big.csv")  # an existing job is returned, not counted
    assert first.status_code == 202 and second.status_code == 202, (first.text, second.text)
    assert third.status_code == 429, third.text
    error = ErrorEnvelope.model_validate(third.json()).error
    assert error.code == "too_many_jobs" and "HSS_TRAINING_MAX_QUEUED_JOBS=2" in error.message
    assert error.details == {"active_jobs": 2, "max_queued_jobs": 2}
    assert third.headers["Retry-After"] == "30"
    assert JobStore(data_root).read("third") is None
    assert again.status_code == 202 and json.loads(again.text)["existing"] is True
