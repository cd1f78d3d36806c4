"""workflow-ml-training never unpickles a model this deployment did not sign: POST /models/promote verifies the
signature first (also when the model is already the current one), and GET /ready and GET /models/current load
nothing. Each planted pickle writes a marker file when unpickled (services/common/tests/hostile_models.py);
every test asserts the refusal AND that the marker never appears."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contracts.catalog import MODEL_CURRENT, MODEL_PROMOTE
from contracts.errors import ErrorEnvelope
from contracts.training import PromotionRequest
from services.common.model_artifacts import latest_path, promotion_path
from services.common.tests.hostile_models import plant_latest, plant_model, plant_promotion, plant_succeeded_job
from services.conftest import TEST_SIGNING_KEY
from services.ml_training.promotion import Promoter

FORGED = "forged"
FORGED_VERSION = "forged@deadbeef"


@pytest.fixture(scope="module")
def promoted(new_root, train) -> tuple[Path, str]:
    """A data root with one trained, signed and promoted model 'good': (root, model_version). Do not modify."""
    root = new_root("untrusted")
    version = train(root, "good")
    Promoter(root, signing_key=TEST_SIGNING_KEY.encode()).promote(PromotionRequest(training_id="good"))
    return root, version


@pytest.fixture
def root(promoted, tmp_path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(promoted[0], copy)
    return copy


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def promote(client, training_id: str):
    return client.post(MODEL_PROMOTE.path, json={"training_id": training_id, "reason": "test"})


def assert_refused(response, code: str, training_id: str) -> None:
    assert response.status_code == 409, response.text
    error = ErrorEnvelope.model_validate(response.json()).error
    assert error.code == code and error.details["training_id"] == training_id, error
    assert "retrain" in error.message.lower()


def test_the_genuine_model_promotes_again_idempotently(root, promoted, training_client) -> None:
    with training_client(root) as client:
        r = promote(client, "good")
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == promoted[1]


@pytest.mark.parametrize("record", ["keep", "foreign", "plain", "none"])
def test_a_replaced_model_of_the_promoted_training_is_refused(root, promoted, training_client, marker, record) -> None:
    """(b) model.joblib of the trained and promoted 'good' replaced: also the idempotent re-promotion verifies."""
    plant_model(root, "good", promoted[1], marker, record=record)
    latest_before = latest_path(root).read_bytes()
    with training_client(root) as client:
        r = promote(client, "good")
    assert_refused(r, "model_signature_invalid", "good")
    assert "HSS_MODEL_SIGNING_KEY" in r.json()["error"]["message"]
    assert latest_path(root).read_bytes() == latest_before
    assert not marker.exists()


@pytest.mark.parametrize("record", ["foreign", "plain", "none"])
def test_a_forged_succeeded_job_is_not_promoted(root, training_client, marker, record) -> None:
    """(c) A hand-made job.json and metrics.json claiming a succeeded training, next to a planted model."""
    plant_succeeded_job(root, FORGED, FORGED_VERSION)
    plant_model(root, FORGED, FORGED_VERSION, marker, record=record)
    latest_before = latest_path(root).read_bytes()
    with training_client(root) as client:
        r = promote(client, FORGED)
    assert_refused(r, "model_signature_invalid", FORGED)
    assert latest_path(root).read_bytes() == latest_before and not promotion_path(root, FORGED).exists()
    assert not marker.exists()


def test_a_job_record_naming_another_training_is_not_followed(root, training_client, marker) -> None:
    """A forged models/forged/job.json that claims to be 'good': the artifact path comes from the request only."""
    plant_succeeded_job(root, FORGED, FORGED_VERSION, claimed_id="good")
    plant_model(root, FORGED, FORGED_VERSION, marker)
    with training_client(root) as client:
        r = promote(client, FORGED)
    assert_refused(r, "model_artifacts_unusable", FORGED)
    assert "names training 'good'" in r.json()["error"]["message"]
    assert not marker.exists()


def test_ready_and_current_load_nothing(root, promoted, training_client, marker) -> None:
    """(a)+(b) A planted current model and a replaced genuine one: /ready and /models/current never unpickle."""
    plant_model(root, "good", promoted[1], marker, record="keep")
    plant_model(root, FORGED, FORGED_VERSION, marker)
    plant_promotion(root, FORGED, FORGED_VERSION)
    plant_latest(root, FORGED, FORGED_VERSION)
    with training_client(root) as client:
        ready = client.get("/ready")
        current = client.get(MODEL_CURRENT.path)
        plant_latest(root, FORGED, FORGED_VERSION, artifact="training_data/x.joblib")
        foreign_path = client.get(MODEL_CURRENT.path)
    assert ready.status_code == 200, ready.text
    assert current.status_code == 200 and current.json()["model_version"] == FORGED_VERSION  # what latest.json says
    assert foreign_path.status_code == 503, foreign_path.text
    assert ErrorEnvelope.model_validate(foreign_path.json()).error.code == "model_unavailable"
    assert not marker.exists()
