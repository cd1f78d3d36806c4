"""workflow-ml-training promotion over HTTP: POST /models/promote, GET /models/current, and the files they write."""

from __future__ import annotations

import itertools
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.catalog import MODEL_CURRENT, MODEL_PROMOTE, TRAINING_START
from contracts.errors import ErrorEnvelope
from contracts.prediction import BASELINE_VERSION
from contracts.training import JobStatus, PromotionRequest, ServingModel, TrainingJob
from fixtures.datasets import make_features_dataset
from services.common.model_artifacts import read_latest, read_promotion
from services.conftest import TEST_SIGNING_KEY
from services.ml_training.jobs import JobStore
from services.ml_training.promotion import Promoter

pytestmark = pytest.mark.slow

TRAININGS = {"promo_a": 7, "promo_b": 11}  # training_id -> dataset seed: two different models


def error_code(response) -> str:
    return ErrorEnvelope.model_validate(response.json()).error.code


@pytest.fixture(scope="module")
def two_models(new_root, training_client, wait_for_job) -> tuple[Path, dict[str, str]]:
    """A data root with two succeeded, unpromoted trainings: (root, {training_id: model_version})."""
    root = new_root("promotion")
    versions = {}
    with training_client(root) as client:
        for training_id, seed in TRAININGS.items():
            dataset = f"training_data/{training_id}.csv"
            make_features_dataset(root / dataset, n_rows=120, seed=seed)
            payload = {"training_id": training_id, "dataset_path": dataset, "cv_folds": 3}
            assert client.post(TRAINING_START.path, json=payload).status_code == 202
        for training_id in TRAININGS:
            job, _ = wait_for_job(client, training_id)
            assert job["status"] == "succeeded", job
            versions[training_id] = job["model_version"]
    assert len(set(versions.values())) == 2
    return root, versions


@pytest.fixture
def root(two_models, tmp_path) -> Path:
    """A private copy of two_models' root a test may change."""
    copy = tmp_path / "data"
    shutil.copytree(two_models[0], copy)
    return copy


@pytest.fixture
def versions(two_models) -> dict[str, str]:
    return two_models[1]


@pytest.fixture
def client(root, training_client):
    with training_client(root) as c:
        yield c


def promote(client, training_id: str, reason: str = "") -> ServingModel:
    r = client.post(MODEL_PROMOTE.path, json={"training_id": training_id, "reason": reason})
    assert r.status_code == 200, r.text
    return ServingModel.model_validate(r.json())


def test_before_any_promotion_nothing_is_published_and_the_baseline_is_current(root, client) -> None:
    assert not (root / "models/latest.json").exists()
    r = client.get(MODEL_CURRENT.path)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "model_version": BASELINE_VERSION,
        "training_id": None,
        "baseline": True,
        "ensemble_auc": None,
        "promoted_at": None,
        "reason": "",
        "previous_model_version": None,
    }


def test_promote_writes_the_record_then_latest_json_and_becomes_current(root, versions, client) -> None:
    started = datetime.now(UTC)
    record = promote(client, "promo_a", reason="first model")
    job = JobStore(root).read("promo_a")
    assert job is not None and job.metrics is not None
    assert record.model_version == versions["promo_a"] and record.training_id == "promo_a"
    assert record.baseline is False and record.previous_model_version is None and record.reason == "first model"
    assert record.ensemble_auc == job.metrics.ensemble_auc
    assert record.promoted_at is not None and started <= record.promoted_at <= datetime.now(UTC)
    assert read_promotion(root, "promo_a") == record
    latest = read_latest(root)
    assert latest is not None and latest.model_version == record.model_version
    assert latest.artifact == "models/promo_a/model.joblib" and latest.promoted_at == record.promoted_at
    assert read_promotion(root, "promo_b") is None
    assert ServingModel.model_validate(client.get(MODEL_CURRENT.path).json()) == record


def test_promoting_the_current_model_again_is_idempotent(root, client) -> None:
    first = promote(client, "promo_a", reason="first")
    files = [root / "models/latest.json", root / "models/promo_a/promotion.json"]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    again = promote(client, "promo_a", reason="a retry with another reason")
    assert again == first
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before


def test_previous_model_version_chains_and_an_older_model_can_be_rolled_back_to(root, versions, client) -> None:
    a = promote(client, "promo_a")
    b = promote(client, "promo_b", reason="better AUC")
    assert b.previous_model_version == a.model_version == versions["promo_a"]
    assert ServingModel.model_validate(client.get(MODEL_CURRENT.path).json()) == b
    rollback = promote(client, "promo_a", reason="rollback")
    assert rollback.model_version == a.model_version and rollback.previous_model_version == b.model_version
    assert rollback.promoted_at > a.promoted_at and rollback.reason == "rollback"  # a new record, not the old one
    assert read_promotion(root, "promo_a") == rollback and read_promotion(root, "promo_b") == b
    assert read_latest(root).model_version == a.model_version


def test_concurrent_promotions_are_serialised(root, versions) -> None:
    promoter = Promoter(root, signing_key=TEST_SIGNING_KEY.encode())
    records: list[ServingModel] = []
    threads = [
        threading.Thread(target=lambda t=t: records.append(promoter.promote(PromotionRequest(training_id=t))))
        for t in ["promo_a", "promo_b"] * 3
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chain = sorted({r.promoted_at: r for r in records}.values(), key=lambda r: r.promoted_at)
    assert chain[0].previous_model_version is None
    for before, after in itertools.pairwise(chain):
        assert after.previous_model_version == before.model_version != after.model_version
    assert read_latest(root).model_version == chain[-1].model_version


def test_unknown_training_is_404(client) -> None:
    r = client.post(MODEL_PROMOTE.path, json={"training_id": "nosuch"})
    assert r.status_code == 404 and error_code(r) == "job_not_found"


@pytest.mark.parametrize("status", [JobStatus.failed, JobStatus.running, JobStatus.queued])
def test_a_job_that_did_not_succeed_is_409(root, client, status: JobStatus) -> None:
    JobStore(root).write(
        TrainingJob(
            job_id="unfinished",
            training_id="unfinished",
            dataset_path="training_data/x.csv",
            status=status,
            progress=0.5,
            created_at=datetime.now(UTC),
        )
    )
    r = client.post(MODEL_PROMOTE.path, json={"training_id": "unfinished"})
    assert r.status_code == 409, r.text
    error = ErrorEnvelope.model_validate(r.json()).error
    assert error.code == "job_not_succeeded" and error.details["status"] == status.value
    assert not (root / "models/latest.json").exists()


@pytest.mark.parametrize("training_id", ["../promo_a", "promo_a/x", "", "-x", "a" * 129])
def test_an_invalid_training_id_is_422(client, training_id: str) -> None:
    r = client.post(MODEL_PROMOTE.path, json={"training_id": training_id})
    assert r.status_code == 422 and error_code(r) == "validation_error"


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        ("delete", "model_artifacts_unusable"),
        ("corrupt", "model_signature_invalid"),  # changed since it was signed: never unpickled
        ("unsigned", "model_signature_invalid"),  # no model.sig.json, as a model written before signing
    ],
)
def test_a_missing_unreadable_or_unsigned_artifact_is_409(root, client, damage: str, code: str) -> None:
    artifact = root / "models/promo_a/model.joblib"
    if damage == "delete":
        artifact.unlink()
    elif damage == "corrupt":
        artifact.write_bytes(b"not a pickle")
    else:
        (root / "models/promo_a/model.sig.json").unlink()
    r = client.post(MODEL_PROMOTE.path, json={"training_id": "promo_a"})
    assert r.status_code == 409, r.text
    assert error_code(r) == code and "retrain" in r.json()["error"]["message"].lower()
    assert not (root / "models/latest.json").exists() and read_promotion(root, "promo_a") is None


def test_an_unreadable_latest_json_makes_current_503_and_a_promotion_repairs_it(root, versions, client) -> None:
    (root / "models/latest.json").write_text("{not json")
    r = client.get(MODEL_CURRENT.path)
    assert r.status_code == 503 and error_code(r) == "model_unavailable"
    assert "latest.json" in r.json()["error"]["message"]
    record = promote(client, "promo_b")
    assert record.previous_model_version is None
    assert client.get(MODEL_CURRENT.path).json()["model_version"] == versions["promo_b"]
