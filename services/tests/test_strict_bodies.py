"""Over HTTP: a body whose values have the wrong JSON type is refused with 422 `validation_error` in the error
envelope, naming the field; nothing is coerced. (The contracts' side: contracts/tests/test_strict_contracts.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.catalog import AUDIO_ANALYZE, INSIGHTS_GENERATE, LYRICS_ANALYZE, PREDICT_SINGLE, TRAINING_START
from contracts.errors import ErrorEnvelope
from fixtures.request_bodies import insights_body
from services.conftest import TEST_API_KEY, TEST_SIGNING_KEY, keyed_client


def _client(service: str, root: Path) -> TestClient:
    # No `with`: the lifespans (Essentia pool, training workers) are not needed to refuse a body.
    if service == "workflow-audio":
        from services.audio.app import build_app
        from services.audio.settings import AudioSettings

        return keyed_client(build_app(AudioSettings(data_root=root, pool_size=1, api_key=TEST_API_KEY)))
    if service == "workflow-content":
        from services.content.app import build_app
        from services.content.settings import ContentSettings

        return keyed_client(build_app(ContentSettings(api_key=TEST_API_KEY)))
    if service == "workflow-ml-training":
        from services.ml_training.app import build_app
        from services.ml_training.settings import TrainingSettings

        return keyed_client(
            build_app(TrainingSettings(data_root=root, api_key=TEST_API_KEY, model_signing_key=TEST_SIGNING_KEY))
        )
    if service == "workflow-ml-prediction":
        from services.ml_prediction.app import build_app
        from services.ml_prediction.settings import PredictionSettings

        return keyed_client(
            build_app(PredictionSettings(data_root=root, api_key=TEST_API_KEY, model_signing_key=TEST_SIGNING_KEY))
        )
    from services.common.settings import ServiceSettings
    from services.intelligence.app import build_app

    return keyed_client(build_app(ServiceSettings(api_key=TEST_API_KEY)))


def _insights_with_contribution(value: Any) -> dict[str, Any]:
    body = insights_body()
    body["prediction"]["explanations"][0]["contribution"] = value
    return body


# (service, path, body, the field the error names)
REFUSED = [
    ("workflow-audio", AUDIO_ANALYZE.path, {"song_id": "s1", "song_path": 5}, ["body", "song_path"]),
    ("workflow-content", LYRICS_ANALYZE.path, {"song_id": True, "lyrics": "la"}, ["body", "song_id"]),
    (
        "workflow-ml-training",
        TRAINING_START.path,
        {"training_id": "t1", "dataset_path": "training_data/a.csv", "cv_folds": "3"},
        ["body", "cv_folds"],
    ),
    (
        "workflow-ml-training",
        TRAINING_START.path,
        {"training_id": "t1", "dataset_path": "training_data/a.csv", "force": "true"},
        ["body", "force"],
    ),
    (
        "workflow-ml-prediction",
        PREDICT_SINGLE.path,
        {"song_id": "s1", "audio_features": {"rhythm.bpm": "120"}},
        ["body", "audio_features", "rhythm.bpm"],
    ),
    (
        "workflow-intelligence",
        INSIGHTS_GENERATE.path,
        _insights_with_contribution(False),
        ["body", "prediction", "explanations", 0, "contribution"],
    ),
]


@pytest.mark.parametrize(("service", "path", "body", "loc"), REFUSED, ids=lambda v: str(v)[:30])
def test_a_wrong_json_type_is_refused_with_the_envelope(data_root: Path, service, path, body, loc) -> None:
    response = _client(service, data_root).post(path, json=body)
    assert response.status_code == 422, response.text
    error = ErrorEnvelope.model_validate(response.json()).error
    assert error.code == "validation_error"
    assert [d["loc"] for d in error.details] == [loc]


def test_an_integer_where_a_number_is_expected_passes(data_root: Path) -> None:
    response = _client("workflow-intelligence", data_root).post(
        INSIGHTS_GENERATE.path, json=_insights_with_contribution(0)
    )
    assert response.status_code == 200, response.text
