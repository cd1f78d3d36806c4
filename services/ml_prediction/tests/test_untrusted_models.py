"""workflow-ml-prediction never unpickles a model this deployment did not sign.

Each test plants a pickle whose unpickling writes a marker file (services/common/tests/hostile_models.py) and
asserts a clear refusal on every route that could load it (POST /predict/single with and without a pinned
model_version, GET /ready) AND that the marker never appears. The happy path (train, promote, predict with
the signature) is test_prediction_api.py's; the one here shows the same model refused under another key.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contracts.catalog import PREDICT_SINGLE
from contracts.errors import ErrorEnvelope
from services.common.model_artifacts import artifact_path, signature_path
from services.common.tests.hostile_models import malicious_pickle, plant_latest, plant_model, plant_promotion

URL = PREDICT_SINGLE.path
EVIL = "evil"
EVIL_VERSION = "evil@deadbeef"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def envelope(response):
    return ErrorEnvelope.model_validate(response.json()).error


def every_route(client, song, versions: list[str]) -> dict[str, object]:
    """The answers of /ready, the current model and each pinned version."""
    audio, content = song()
    body = {"song_id": "s1", "audio_features": audio, "content_features": content}
    answers: dict[str, object] = {"ready": client.get("/ready"), "current": client.post(URL, json=body)}
    for version in versions:
        answers[version] = client.post(URL, json={**body, "model_version": version})
    return answers


def assert_signature_refused(response, training_id: str) -> None:
    assert response.status_code == 503, response.text
    error = envelope(response)
    assert error.code == "model_signature_invalid", error
    assert "not signed by this deployment's key" in error.message and "HSS_MODEL_SIGNING_KEY" in error.message
    assert "retrain" in error.message and error.details["training_id"] == training_id


def assert_not_ready(response, *, signature: bool = True) -> None:
    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["model_loadable"] is False
    assert ("model_signature_valid" in checks) is signature


@pytest.mark.parametrize("record", ["foreign", "plain", "none"])
def test_latest_json_pointing_at_a_planted_model_is_refused(
    trained_copy, prediction_client, song, marker, record: str
) -> None:
    """(a) A promoted-looking planted model: latest.json, promotion.json, model.joblib and a signature record
    with the right sha256 but no valid HMAC (another key, an unkeyed hash, or none at all)."""
    root, _ = trained_copy
    plant_model(root, EVIL, EVIL_VERSION, marker, record=record)
    plant_promotion(root, EVIL, EVIL_VERSION)
    plant_latest(root, EVIL, EVIL_VERSION)
    with prediction_client(root) as client:
        answers = every_route(client, song, [EVIL_VERSION])
    assert_not_ready(answers["ready"])
    assert_signature_refused(answers["current"], EVIL)
    assert_signature_refused(answers[EVIL_VERSION], EVIL)
    assert not marker.exists()


def test_latest_json_naming_another_artifact_path_is_refused(trained_copy, prediction_client, song, marker) -> None:
    """(a) latest.json names the real, promoted training but an artifact elsewhere: the path is never followed."""
    root, version = trained_copy
    (root / "training_data" / "model.joblib").write_bytes(malicious_pickle(marker))
    plant_latest(root, "pred_a", version, artifact="training_data/model.joblib")
    with prediction_client(root) as client:
        answers = every_route(client, song, [])
    assert_not_ready(answers["ready"], signature=False)
    current = answers["current"]
    assert current.status_code == 503 and envelope(current).code == "model_unavailable"
    assert "models/pred_a/model.joblib" in envelope(current).message
    assert not marker.exists()


@pytest.mark.parametrize("record", ["keep", "foreign", "none"])
def test_a_replaced_model_of_a_promoted_training_is_refused(
    trained_copy, prediction_client, song, marker, record: str
) -> None:
    """(b) The genuine, trained and promoted pred_a: its model.joblib replaced after it was served once (so a
    cached copy exists), its record kept, forged, or removed."""
    root, version = trained_copy
    with prediction_client(root) as client:
        before = every_route(client, song, [version])
        assert all(r.status_code == 200 for r in before.values()), before
        plant_model(root, "pred_a", version, marker, record=record)
        after = every_route(client, song, [version])
    assert_not_ready(after["ready"])
    assert_signature_refused(after["current"], "pred_a")
    assert_signature_refused(after[version], "pred_a")
    assert not marker.exists()


def test_a_model_written_before_signing_is_refused_and_the_message_says_retrain(
    trained_copy, prediction_client, song
) -> None:
    root, version = trained_copy
    signature_path(root, "pred_a").unlink()  # what a data root written before this change holds
    with prediction_client(root) as client:
        answers = every_route(client, song, [version])
    assert_signature_refused(answers["current"], "pred_a")
    assert "no model.sig.json" in envelope(answers["current"]).message
    assert "force=true" in envelope(answers[version]).message


def test_a_model_signed_by_another_deployment_is_refused(trained_copy, prediction_client, song) -> None:
    root, version = trained_copy
    with prediction_client(root, model_signing_key="another-deployments-key") as client:
        answers = every_route(client, song, [version])
    assert_not_ready(answers["ready"])
    assert_signature_refused(answers["current"], "pred_a")
    assert_signature_refused(answers[version], "pred_a")


def test_a_model_file_symlinked_out_of_its_folder_is_refused(trained_copy, prediction_client, song, tmp_path) -> None:
    root, version = trained_copy
    outside = tmp_path / "outside.joblib"
    shutil.copy(artifact_path(root, "pred_a"), outside)  # the genuine signed bytes, outside the data root
    artifact_path(root, "pred_a").unlink()
    artifact_path(root, "pred_a").symlink_to(outside)
    with prediction_client(root) as client:
        answers = every_route(client, song, [version])
    assert_signature_refused(answers["current"], "pred_a")
    assert "symlink" in envelope(answers[version]).details["problem"]


def test_latest_json_without_its_promotion_record_is_refused(trained_copy, prediction_client, song) -> None:
    root, _ = trained_copy
    (root / "models" / "pred_a" / "promotion.json").unlink()
    with prediction_client(root) as client:
        answers = every_route(client, song, [])
    current = answers["current"]
    assert current.status_code == 503 and envelope(current).code == "model_unavailable"
    assert "promotion.json" in envelope(current).message
