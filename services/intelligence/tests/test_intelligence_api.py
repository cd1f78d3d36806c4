"""workflow-intelligence over HTTP: POST /insights/generate, validation envelope, API key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from contracts.catalog import INSIGHTS_GENERATE
from contracts.errors import ErrorEnvelope
from contracts.insights import InsightsResponse
from services.common.settings import ServiceSettings
from services.conftest import TEST_API_KEY, keyed_client
from services.intelligence.app import build_app

URL = INSIGHTS_GENERATE.path


@pytest.fixture
def client(data_root):
    with keyed_client(build_app(ServiceSettings(data_root=data_root, api_key=TEST_API_KEY))) as c:
        yield c


def error_code(response) -> str:
    return ErrorEnvelope.model_validate(response.json()).error.code


def test_generate_returns_insights_quoting_the_song(client, request_factory):
    payload = request_factory("hit_42", audio_tempo=124.36, audio_key="A", audio_scale="minor").model_dump(mode="json")
    r = client.post(URL, json=payload)
    assert r.status_code == 200, r.text
    body = InsightsResponse.model_validate(r.json())
    assert body.song_id == "hit_42"
    assert "124.4 BPM" in body.summary
    assert "A minor" in body.summary and "62.0%" in body.summary
    assert body.hit_probability == 0.62 and body.model_version == "smart_ensemble_20250101"
    assert body.strengths


def test_quiet_song_over_http_gets_high_priority_loudness_advice(client, request_factory):
    r = client.post(URL, json=request_factory(audio_loudness=-25.0).model_dump(mode="json"))
    first = r.json()["recommendations"][0]
    assert first["priority"] == "high" and first["area"] == "loudness" and "-25.0 LUFS" in first["message"]


@pytest.mark.parametrize("part", ["audio", "content", "prediction"])
def test_song_id_mismatch_gets_422_with_its_code(client, request_factory, part):
    payload = request_factory("song_a").model_dump(mode="json")
    payload[part]["song_id"] = "song_b"
    r = client.post(URL, json=payload)
    assert r.status_code == 422
    assert error_code(r) == "song_id_mismatch"
    assert r.json()["error"]["details"]["mismatched"] == {part: "song_b"}


def _drop_highlights(p):
    del p["audio"]["highlights"]


def _bad_probability(p):
    p["prediction"]["hit_probability"] = 1.5


def _features_as_text(p):
    p["content"]["features"] = "lots"


def _sentiment_label(p):
    p["content"]["sentiment"]["label"] = "ecstatic"


def _prediction_as_list(p):
    p["prediction"] = [p["prediction"]]


def _nan_feature(p):
    p["audio"]["features"]["rhythm.bpm"] = "NaN"


@pytest.mark.parametrize(
    "corrupt",
    [_drop_highlights, _bad_probability, _features_as_text, _sentiment_label, _prediction_as_list, _nan_feature],
)
def test_malformed_nested_objects_get_422_validation_error(client, request_factory, corrupt):
    payload = request_factory().model_dump(mode="json")
    corrupt(payload)
    r = client.post(URL, json=payload)
    assert r.status_code == 422
    assert error_code(r) == "validation_error"


def test_missing_parts_get_422(client):
    r = client.post(URL, json={"song_id": "x"})
    assert r.status_code == 422 and error_code(r) == "validation_error"


def test_api_key_is_enforced_when_set(data_root, request_factory):
    with TestClient(build_app(ServiceSettings(data_root=data_root, api_key="k3y"))) as c:
        payload = request_factory().model_dump(mode="json")
        assert c.post(URL, json=payload).status_code == 401
        assert c.post(URL, json=payload, headers={"X-API-Key": "k3y"}).status_code == 200
        assert c.get("/health").status_code == 200


def test_openapi_documents_the_route_and_its_error_envelope(client):
    op = client.get("/openapi.json").json()["paths"][URL]["post"]
    assert op["summary"] == "Generate insights" and "song_id_mismatch" in op["responses"]["422"]["description"]
    assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorEnvelope")
