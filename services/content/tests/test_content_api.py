"""workflow-content over HTTP: POST /analyze/lyrics, validation envelope, API key, OpenAPI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from contracts.catalog import LYRICS_ANALYZE
from contracts.content import MAX_LYRICS_CHARS, LyricsAnalysisResponse
from contracts.errors import ErrorEnvelope
from fixtures.lyrics import SAD_BALLAD, UPBEAT_POP
from services.conftest import TEST_API_KEY, keyed_client
from services.content.app import build_app
from services.content.lyrics import FEATURE_NAMES
from services.content.settings import ContentSettings

URL = LYRICS_ANALYZE.path


@pytest.fixture
def client(data_root):
    with keyed_client(build_app(ContentSettings(data_root=data_root, api_key=TEST_API_KEY))) as c:
        yield c


def error_code(response) -> str:
    return ErrorEnvelope.model_validate(response.json()).error.code


def test_analyze_returns_the_contract_with_every_feature(client):
    r = client.post(URL, json={"song_id": "pop_1", "lyrics": UPBEAT_POP})
    assert r.status_code == 200, r.text
    body = LyricsAnalysisResponse.model_validate(r.json())
    assert body.song_id == "pop_1" and body.instrumental is False
    assert list(body.features) == list(FEATURE_NAMES)
    assert body.sentiment.label == "positive"
    assert body.features["lyrics.line_count"] == 22
    assert body.analysis_seconds >= 0


def test_sad_ballad_comes_back_negative(client):
    r = client.post(URL, json={"song_id": "sad", "lyrics": SAD_BALLAD})
    assert r.status_code == 200
    assert r.json()["sentiment"]["compound"] < -0.05


@pytest.mark.parametrize(
    "payload", [{"song_id": "inst", "lyrics": ""}, {"song_id": "inst", "lyrics": " \n\t "}, {"song_id": "inst"}]
)
def test_empty_or_missing_lyrics_give_the_instrumental_result(client, payload):
    r = client.post(URL, json=payload)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["instrumental"] is True
    assert list(body["features"]) == list(FEATURE_NAMES)
    assert body["features"]["lyrics.word_count"] == 0
    assert body["sentiment"]["label"] == "neutral"


def test_lyrics_over_the_character_cap_get_422_validation_error(client):
    r = client.post(URL, json={"song_id": "big", "lyrics": "a" * (MAX_LYRICS_CHARS + 1)})
    assert r.status_code == 422
    assert error_code(r) == "validation_error"
    assert r.json()["error"]["details"][0]["loc"] == ["body", "lyrics"]
    ok = client.post(URL, json={"song_id": "big", "lyrics": ("la " * 5000)[:MAX_LYRICS_CHARS]})
    assert ok.status_code == 200


def test_too_many_lines_get_422_lyrics_too_long(client):
    r = client.post(URL, json={"song_id": "lines", "lyrics": "la\n" * 2001})
    assert r.status_code == 422
    assert error_code(r) == "lyrics_too_long"
    assert r.json()["error"]["details"] == {"lines": 2001, "max_lines": 2000}


def test_line_cap_follows_settings(data_root):
    with keyed_client(build_app(ContentSettings(data_root=data_root, max_lyrics_lines=3, api_key=TEST_API_KEY))) as c:
        assert c.post(URL, json={"song_id": "a", "lyrics": "one\ntwo\nthree"}).status_code == 200
        assert error_code(c.post(URL, json={"song_id": "a", "lyrics": "one\ntwo\nthree\nfour"})) == "lyrics_too_long"


@pytest.mark.parametrize(
    "payload",
    [
        {"song_id": "x", "lyrics": 123},
        {"song_id": "x", "lyrics": ["a", "b"]},
        {"song_id": "x", "lyrics": None},
        {"song_id": 5, "lyrics": "hello"},
        {"song_id": "x", "lyrics": "hello", "mood": "happy"},  # unknown field
        ["song_id", "x"],
    ],
)
def test_wrong_types_get_422_validation_error(client, payload):
    r = client.post(URL, json=payload)
    assert r.status_code == 422
    assert error_code(r) == "validation_error"


def test_non_json_body_gets_422(client):
    r = client.post(URL, content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and error_code(r) == "validation_error"


def test_missing_song_id_gets_422(client):
    r = client.post(URL, json={"lyrics": "hello"})
    assert r.status_code == 422
    assert error_code(r) == "validation_error"
    assert r.json()["error"]["details"][0]["loc"] == ["body", "song_id"]


@pytest.mark.parametrize("song_id", ["../etc/passwd", "", "-leading-dash", "has space", "x" * 129])
def test_bad_song_id_pattern_gets_422(client, song_id):
    r = client.post(URL, json={"song_id": song_id, "lyrics": "hello"})
    assert r.status_code == 422
    assert error_code(r) == "validation_error"


def test_api_key_is_enforced_when_set_and_probes_stay_open(data_root):
    with TestClient(build_app(ContentSettings(data_root=data_root, api_key="s3cret"))) as c:
        payload = {"song_id": "k", "lyrics": "hello"}
        missing = c.post(URL, json=payload)
        assert missing.status_code == 401 and error_code(missing) == "unauthorized"
        assert c.post(URL, json=payload, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post(URL, json=payload, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200


def test_ready_reports_the_loaded_lexicon(client):
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json()["checks"] == {"vader_lexicon_loaded": True}


def test_openapi_documents_the_route_and_its_error_envelope(client):
    op = client.get("/openapi.json").json()["paths"][URL]["post"]
    assert op["summary"] == "Analyze lyrics" and op["description"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("LyricsAnalysisResponse")
    for status in ("401", "422"):
        assert op["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorEnvelope")
