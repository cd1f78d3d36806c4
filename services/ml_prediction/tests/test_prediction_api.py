"""workflow-ml-prediction over HTTP: baseline, promoted model, explanations, missing features, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.catalog import MODEL_PROMOTE, PREDICT_SINGLE
from contracts.errors import ErrorEnvelope
from contracts.prediction import BASELINE_VERSION, PredictionResponse
from contracts.training import PromotionRequest
from services.common.model_artifacts import read_latest
from services.common.model_signing import load_signed_model
from services.conftest import TEST_SIGNING_KEY
from services.ml_prediction.baseline import BASELINE_MEDIANS
from services.ml_training.promotion import Promoter

URL = PREDICT_SINGLE.path


def error_code(response) -> str:
    return ErrorEnvelope.model_validate(response.json()).error.code


def body_of(song_id: str, audio: dict, content: dict, **extra) -> dict:
    return {"song_id": song_id, "audio_features": audio, "content_features": content, **extra}


@pytest.fixture
def trained_client(trained_root, prediction_client):
    root, _ = trained_root
    with prediction_client(root) as client:
        yield client


@pytest.fixture
def model(trained_root):
    root, _ = trained_root
    return load_signed_model(root, "pred_a", TEST_SIGNING_KEY.encode())


def assert_sorted_by_magnitude(explanations: list) -> None:
    magnitudes = [abs(e.contribution) for e in explanations]
    assert magnitudes == sorted(magnitudes, reverse=True), magnitudes


# --- baseline ---------------------------------------------------------------------------------


def test_without_a_trained_model_the_baseline_answers(data_root: Path, prediction_client, song) -> None:
    audio, content = song()
    with prediction_client(data_root) as client:
        r = client.post(URL, json=body_of("s1", audio, content))
        ready = client.get("/ready")
    assert r.status_code == 200, r.text
    body = PredictionResponse.model_validate(r.json())
    assert body.model_version == BASELINE_VERSION == "baseline-v1" and body.baseline is True
    assert 0 < body.hit_probability < 1 and body.missing_features == []
    assert {e.feature for e in body.explanations} <= set(BASELINE_MEDIANS) and body.explanations
    assert_sorted_by_magnitude(body.explanations)
    assert ready.status_code == 200 and ready.json()["checks"] == {"model_loadable": True}


def test_baseline_scores_a_hit_like_song_above_a_flop_like_one(data_root: Path, prediction_client) -> None:
    hit = {"rhythm.danceability": 1.8, "lowlevel.loudness_ebu128.integrated": -6.0, "rhythm.bpm": 121.0}
    flop = {"rhythm.danceability": 0.7, "lowlevel.loudness_ebu128.integrated": -18.0, "rhythm.bpm": 72.0}
    lyrics_hit = {"lyrics.hook_strength": 0.8, "lyrics.sentiment_compound": 0.6}
    lyrics_flop = {"lyrics.hook_strength": 0.05, "lyrics.sentiment_compound": -0.6}
    with prediction_client(data_root) as client:
        p_hit = client.post(URL, json=body_of("hit", hit, lyrics_hit)).json()["hit_probability"]
        p_flop = client.post(URL, json=body_of("flop", flop, lyrics_flop)).json()["hit_probability"]
    assert p_hit > 0.9 and p_flop < 0.1


def test_baseline_without_lyrics_imputes_and_reports_them(data_root: Path, prediction_client, song) -> None:
    audio, _ = song()
    with prediction_client(data_root) as client:
        body = client.post(URL, json=body_of("instrumental", audio, {})).json()
    assert body["missing_features"] == ["lyrics.sentiment_compound", "lyrics.hook_strength"]
    assert "lyrics.hook_strength" not in {e["feature"] for e in body["explanations"]}


@pytest.mark.slow
def test_a_trained_but_unpromoted_model_is_not_served(data_root: Path, prediction_client, song, train) -> None:
    version = train(data_root, "unpromoted", promote=False)
    audio, content = song()
    with prediction_client(data_root) as client:
        default = client.post(URL, json=body_of("s1", audio, content))
        pinned = client.post(URL, json=body_of("s1", audio, content, model_version=version))
    assert not (data_root / "models/latest.json").exists()
    assert default.status_code == 200 and default.json()["model_version"] == BASELINE_VERSION
    assert pinned.status_code == 409, pinned.text
    error = ErrorEnvelope.model_validate(pinned.json()).error
    assert error.code == "model_not_promoted" and error.details == {"model_version": version}
    assert str(MODEL_PROMOTE) in error.message and "'unpromoted'" in error.message


# --- promoted model ---------------------------------------------------------------------------


def test_the_promoted_model_latest_json_names_answers(trained_root, trained_client, song) -> None:
    _, version = trained_root
    audio, content = song()
    r = trained_client.post(URL, json=body_of("s1", audio, content))
    assert r.status_code == 200, r.text
    body = PredictionResponse.model_validate(r.json())
    assert body.model_version == version and body.baseline is False
    assert len(body.explanations) == 10 and body.missing_features == []
    assert_sorted_by_magnitude(body.explanations)
    assert all(e.value == (audio | content)[e.feature] for e in body.explanations)


def test_a_contribution_is_the_change_from_setting_that_feature_to_its_median(trained_client, model, song) -> None:
    audio, content = song()
    body = trained_client.post(URL, json=body_of("s1", audio, content)).json()
    top = body["explanations"][0]
    assert abs(top["contribution"]) > 0.005, "the top feature of a real song should matter"
    median = model.medians[model.feature_names.index(top["feature"])]
    if top["feature"].startswith("lyrics."):
        content = content | {top["feature"]: median}
    else:
        audio = audio | {top["feature"]: median}
    at_median = trained_client.post(URL, json=body_of("s1", audio, content)).json()
    assert body["hit_probability"] - at_median["hit_probability"] == pytest.approx(top["contribution"], abs=2e-6)


def test_missing_features_are_imputed_with_the_training_median_and_listed(trained_client, model, song) -> None:
    audio, content = song()
    dropped = ["rhythm.bpm", "lyrics.hook_strength"]
    partial_audio = {k: v for k, v in audio.items() if k not in dropped}
    partial_content = {k: v for k, v in content.items() if k not in dropped}
    body = trained_client.post(URL, json=body_of("s1", partial_audio, partial_content)).json()
    assert body["missing_features"] == dropped  # in the model's feature order
    medians = {name: model.medians[model.feature_names.index(name)] for name in dropped}
    explicit = trained_client.post(
        URL,
        json=body_of(
            "s1",
            partial_audio | {"rhythm.bpm": medians["rhythm.bpm"]},
            partial_content | {"lyrics.hook_strength": medians["lyrics.hook_strength"]},
        ),
    ).json()
    zeros = trained_client.post(
        URL, json=body_of("s1", partial_audio | {"rhythm.bpm": 0.0}, partial_content | {"lyrics.hook_strength": 0.0})
    ).json()
    assert body["hit_probability"] == pytest.approx(explicit["hit_probability"], abs=1e-9)
    assert body["hit_probability"] != pytest.approx(zeros["hit_probability"], abs=1e-3), "imputed with zeros?"
    assert not {e["feature"] for e in body["explanations"]} & set(dropped)


def test_more_than_half_missing_is_refused_and_half_is_accepted(trained_client, model, song) -> None:
    audio, content = song()
    values = audio | content
    names = model.feature_names
    half = len(names) // 2  # 18 features: 9 missing is accepted, 10 is not
    keep_half = {n: values[n] for n in names[half:]}
    keep_fewer = {n: values[n] for n in names[half + 1 :]}
    ok = trained_client.post(URL, json=body_of("s1", keep_half, {}))
    refused = trained_client.post(URL, json=body_of("s1", keep_fewer, {}))
    assert ok.status_code == 200 and len(ok.json()["missing_features"]) == half
    assert refused.status_code == 422
    error = ErrorEnvelope.model_validate(refused.json()).error
    assert error.code == "too_many_missing_features"
    assert names[0] in error.message and error.details["missing_count"] == half + 1


def test_pinning_versions(trained_root, trained_client, song) -> None:
    _, version = trained_root
    audio, content = song()
    pinned = trained_client.post(URL, json=body_of("s1", audio, content, model_version=version)).json()
    baseline = trained_client.post(URL, json=body_of("s1", audio, content, model_version="baseline-v1")).json()
    assert pinned["model_version"] == version and pinned["baseline"] is False
    assert baseline["model_version"] == "baseline-v1" and baseline["baseline"] is True


@pytest.mark.parametrize("version", ["nosuch@deadbeef", "pred_a@00000000", "pred_a", "../models@x", "baseline-v0"])
def test_unknown_model_version_is_a_404_envelope(trained_client, song, version: str) -> None:
    audio, content = song()
    r = trained_client.post(URL, json=body_of("s1", audio, content, model_version=version))
    assert r.status_code == 404, r.text
    assert error_code(r) == "unknown_model_version" and version in r.json()["error"]["message"]


@pytest.mark.slow
def test_a_new_promotion_switches_the_served_model_without_restart(trained_copy, prediction_client, song, train):
    root, first = trained_copy
    audio, content = song()
    with prediction_client(root) as client:
        before = client.post(URL, json=body_of("s1", audio, content)).json()
        second = train(root, "pred_b", seed=11, promote=False)
        unpromoted = client.post(URL, json=body_of("s1", audio, content)).json()
        Promoter(root, signing_key=TEST_SIGNING_KEY.encode()).promote(PromotionRequest(training_id="pred_b"))
        after = client.post(URL, json=body_of("s1", audio, content)).json()
        old = client.post(URL, json=body_of("s1", audio, content, model_version=first))
    assert before["model_version"] == first and unpromoted["model_version"] == first
    assert second != first and read_latest(root).model_version == second
    assert after["model_version"] == second and after["baseline"] is False
    # promoted earlier, no longer current: a pin still serves it
    assert old.status_code == 200, old.text
    assert old.json()["model_version"] == first and old.json()["hit_probability"] == before["hit_probability"]


@pytest.mark.slow
def test_a_promoted_model_retrained_in_place_is_not_served(trained_copy, prediction_client, song, train) -> None:
    root, first = trained_copy
    retrained = train(root, "pred_a", seed=11, promote=False)  # same training_id, other data: a new version
    audio, content = song()
    with prediction_client(root) as client:
        default = client.post(URL, json=body_of("s1", audio, content))
        pinned = client.post(URL, json=body_of("s1", audio, content, model_version=retrained))
    assert retrained != first
    assert default.status_code == 503 and error_code(default) == "model_unavailable"
    assert retrained in default.json()["error"]["message"]
    assert pinned.status_code == 409 and error_code(pinned) == "model_not_promoted"


def test_a_broken_latest_json_makes_the_service_not_ready(trained_copy, prediction_client, song) -> None:
    root, _ = trained_copy
    (root / "models/latest.json").write_text("{not json")
    audio, content = song()
    with prediction_client(root) as client:
        ready = client.get("/ready")
        r = client.post(URL, json=body_of("s1", audio, content))
    assert ready.status_code == 503 and ready.json()["checks"] == {"model_loadable": False}
    assert r.status_code == 503 and error_code(r) == "model_unavailable"


@pytest.mark.parametrize(
    "payload",
    [
        {"song_id": "s1", "audio_features": {"rhythm.bpm": "fast"}},
        {"song_id": "s1", "audio_features": {"rhythm.bpm": [120]}},
        {"song_id": "s1", "audio_features": ["rhythm.bpm", 120]},
        {"song_id": "../s1", "audio_features": {"rhythm.bpm": 120.0}},
        {"song_id": "s1"},
        {"song_id": "s1", "audio_features": {"rhythm.bpm": 120.0}, "content_features": {"lyrics.x": None}},
        {"song_id": "s1", "audio_features": {"rhythm.bpm": 120.0}, "extra": True},
    ],
)
def test_wrong_types_are_422_envelopes(trained_client, payload) -> None:
    r = trained_client.post(URL, json=payload)
    assert r.status_code == 422, r.text
    assert error_code(r) == "validation_error"


def test_a_feature_in_both_maps_is_refused(trained_client, song) -> None:
    audio, content = song()
    r = trained_client.post(URL, json=body_of("s1", audio, content | {"rhythm.bpm": 90.0}))
    assert r.status_code == 422 and error_code(r) == "feature_name_collision"
    assert "rhythm.bpm" in r.json()["error"]["message"]
