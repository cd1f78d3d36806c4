"""workflow-ml-training over HTTP: a real training end to end, its artifacts, restart, idempotency, promotion."""

from __future__ import annotations

import json
import shutil

import pytest

from contracts.catalog import MODEL_PROMOTE, PREDICT_SINGLE, TRAINING_JOB, TRAINING_START
from contracts.errors import ErrorEnvelope
from contracts.prediction import PredictionResponse
from contracts.training import TrainingAccepted, TrainingJob
from fixtures.datasets import features_frame, make_features_dataset
from services.common.model_artifacts import read_latest
from services.common.model_signing import load_signed_model
from services.conftest import TEST_API_KEY, TEST_SIGNING_KEY, keyed_client
from services.ml_prediction.app import build_app as build_prediction_app
from services.ml_prediction.settings import PredictionSettings

pytestmark = pytest.mark.slow

DATASET = "training_data/features/hits.csv"


@pytest.fixture(scope="module")
def trained(new_root, training_client, wait_for_job):
    """One real training through the API on a fresh data root: (root, 202 body, final job, progress seen)."""
    root = new_root("trained")
    make_features_dataset(root / DATASET)
    with training_client(root) as client:
        r = client.post(TRAINING_START.path, json={"training_id": "hits_v1", "dataset_path": DATASET})
        assert r.status_code == 202, r.text
        accepted = r.json()
        job, seen = wait_for_job(client, "hits_v1")
    return root, accepted, job, seen


@pytest.fixture
def trained_copy(trained, tmp_path):
    """A private copy of the trained root a test may change: (root, final job)."""
    root, _, job, _ = trained
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    return copy, job


def test_post_is_accepted_at_once_with_the_training_id_as_job_id(trained) -> None:
    _, accepted, _, _ = trained
    body = TrainingAccepted.model_validate(accepted)
    assert body.job_id == body.training_id == "hits_v1"
    assert body.status == "queued" and body.existing is False


def test_job_succeeds_with_monotonic_progress_five_models_and_a_good_auc(trained) -> None:
    _, _, job_json, seen = trained
    job = TrainingJob.model_validate(job_json)
    assert job.status == "succeeded", job.error
    assert job.progress == 1.0 and seen[-1] == 1.0
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert job.started_at and job.finished_at and job.created_at <= job.started_at <= job.finished_at
    assert job.model_version and job.model_version.startswith("hits_v1@")
    assert job.metrics is not None and len(job.metrics.models) == 5
    print(f"\nensemble AUC through the API: {job.metrics.ensemble_auc:.3f}")
    assert job.metrics.ensemble_auc > 0.75
    assert job.error is None and job.dataset_path == DATASET


def test_artifacts_are_written_but_nothing_is_published(trained) -> None:
    root, _, job, _ = trained
    folder = root / "models" / "hits_v1"
    files = {p.name for p in folder.iterdir()}
    assert files == {"job.json", "metrics.json", "model.joblib", "model.sig.json"}  # no temp leftovers
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["model_version"] == job["model_version"]
    assert metrics["metrics"]["ensemble_auc"] == job["metrics"]["ensemble_auc"]
    assert load_signed_model(root, "hits_v1", TEST_SIGNING_KEY.encode()).model_version == job["model_version"]
    assert "song_id" not in metrics["feature_names"]
    assert read_latest(root) is None, "training must not publish: only a promotion writes latest.json"


def test_prediction_on_the_same_root_serves_the_model_once_it_is_promoted(trained_copy, training_client) -> None:
    root, job = trained_copy
    row = features_frame(n_rows=1, seed=99).iloc[0]
    features = {k: float(v) for k, v in row.items() if k not in ("song_id", "song_path", "is_hit") and v == v}
    audio = {k: v for k, v in features.items() if not k.startswith("lyrics.")}
    content = {k: v for k, v in features.items() if k.startswith("lyrics.")}
    song = {"song_id": "s1", "audio_features": audio, "content_features": content}
    settings = PredictionSettings(data_root=root, api_key=TEST_API_KEY, model_signing_key=TEST_SIGNING_KEY)
    with keyed_client(build_prediction_app(settings)) as client:
        before = client.post(PREDICT_SINGLE.path, json=song)
        with training_client(root) as training:
            promoted = training.post(MODEL_PROMOTE.path, json={"training_id": "hits_v1"})
        after = client.post(PREDICT_SINGLE.path, json=song)
    assert before.status_code == 200 and before.json()["baseline"] is True, before.text
    assert promoted.status_code == 200, promoted.text
    assert after.status_code == 200, after.text
    body = PredictionResponse.model_validate(after.json())
    assert body.model_version == job["model_version"] and body.baseline is False
    assert body.missing_features == [] and len(body.explanations) == 10


def test_a_finished_job_survives_a_restart(trained, training_client) -> None:
    root, _, job, _ = trained
    with training_client(root) as client:  # a new app instance: nothing in memory
        r = client.get(TRAINING_JOB.format_path(job_id="hits_v1"))
    assert r.status_code == 200
    assert r.json()["status"] == "succeeded" and r.json()["model_version"] == job["model_version"]


def test_resubmitting_returns_the_existing_job_without_retraining(trained, training_client) -> None:
    root, *_ = trained
    before = (root / "models/hits_v1/job.json").read_bytes()
    with training_client(root) as client:
        r = client.post(TRAINING_START.path, json={"training_id": "hits_v1", "dataset_path": DATASET})
    assert r.status_code == 202
    assert r.json() == {"job_id": "hits_v1", "training_id": "hits_v1", "status": "succeeded", "existing": True}
    assert (root / "models/hits_v1/job.json").read_bytes() == before


def test_force_retrains_and_the_same_data_gives_the_same_version(trained, training_client, wait_for_job) -> None:
    root, _, job, _ = trained
    with training_client(root) as client:
        r = client.post(TRAINING_START.path, json={"training_id": "hits_v1", "dataset_path": DATASET, "force": True})
        assert r.status_code == 202 and r.json()["existing"] is False
        again, _ = wait_for_job(client, "hits_v1")
    assert again["status"] == "succeeded"
    assert again["created_at"] != job["created_at"]  # really a new run
    assert again["model_version"] == job["model_version"]
    assert again["metrics"] == job["metrics"]


def test_resubmit_while_running_is_idempotent_and_force_is_refused(data_root, training_client) -> None:
    make_features_dataset(data_root / DATASET)
    payload = {"training_id": "busy", "dataset_path": DATASET}
    with training_client(data_root) as client:
        first = client.post(TRAINING_START.path, json=payload)
        second = client.post(TRAINING_START.path, json=payload)
        forced = client.post(TRAINING_START.path, json=payload | {"force": True})
        status = client.get(TRAINING_JOB.format_path(job_id="busy")).json()["status"]
    assert first.status_code == second.status_code == 202
    assert second.json()["job_id"] == first.json()["job_id"] == "busy"
    assert second.json()["existing"] is True and second.json()["status"] in ("queued", "running")
    assert status in ("queued", "running"), "the training should still be busy a few ms after submission"
    assert forced.status_code == 409
    assert ErrorEnvelope.model_validate(forced.json()).error.code == "job_active"


def test_stopping_the_service_fails_the_running_job_with_the_reason(data_root, training_client) -> None:
    make_features_dataset(data_root / DATASET)
    with training_client(data_root) as client:
        assert client.post(TRAINING_START.path, json={"training_id": "cut", "dataset_path": DATASET}).is_success
    # the app has shut down: its worker was stopped, and job.json says so instead of staying 'running'
    job = TrainingJob.model_validate_json((data_root / "models/cut/job.json").read_text())
    assert job.status == "failed" and "stopped while the job was running" in (job.error or "")
    assert not (data_root / "models/latest.json").exists()
