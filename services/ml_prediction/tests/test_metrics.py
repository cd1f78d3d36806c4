"""hss_model_info{model_version, source} at /metrics: the model served by default, read at each scrape."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from contracts.catalog import PREDICT_SINGLE
from contracts.prediction import BASELINE_VERSION
from contracts.training import PromotionRequest
from services.common.model_artifacts import latest_path
from services.conftest import TEST_SIGNING_KEY
from services.ml_prediction import model_store
from services.ml_training.promotion import Promoter


def model_info(client: TestClient) -> list[tuple[dict[str, str], float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        if family.name == "hss_model_info"
        for sample in family.samples
    ]


def test_the_baseline_is_named_before_any_promotion(data_root: Path, prediction_client) -> None:
    with prediction_client(data_root) as client:
        assert model_info(client) == [({"model_version": BASELINE_VERSION, "source": "baseline"}, 1.0)]


def test_a_promotion_shows_at_the_next_scrape_and_no_scrape_loads_a_model(
    trained_copy, prediction_client, song, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, version = trained_copy
    latest_path(root).unlink()  # as before the first promotion: pred_a is trained, the baseline is served
    reads: list[str] = []
    real_read_verified = model_store.read_verified

    def counted(root_: Path, training_id: str, key: bytes):
        reads.append(training_id)
        return real_read_verified(root_, training_id, key)

    monkeypatch.setattr(model_store, "read_verified", counted)
    with prediction_client(root) as client:
        assert model_info(client) == [({"model_version": BASELINE_VERSION, "source": "baseline"}, 1.0)]
        Promoter(root, signing_key=TEST_SIGNING_KEY.encode()).promote(PromotionRequest(training_id="pred_a"))
        promoted = [({"model_version": version, "source": "promoted"}, 1.0)]
        assert model_info(client) == promoted  # without a restart, and the baseline's series is gone
        assert model_info(client) == promoted
        assert reads == []  # the scrapes read latest.json only, never the model

        audio, content = song()
        served = client.post(
            PREDICT_SINGLE.path, json={"song_id": "s1", "audio_features": audio, "content_features": content}
        )
        assert served.status_code == 200 and served.json()["model_version"] == version
        assert reads == ["pred_a"]  # a prediction does load it (the counter sees loads)
        assert model_info(client) == promoted


@pytest.mark.slow  # trains a second model
def test_promoting_another_model_replaces_the_version_at_the_next_scrape(
    trained_copy, prediction_client, train
) -> None:
    root, first = trained_copy
    with prediction_client(root) as client:
        assert model_info(client) == [({"model_version": first, "source": "promoted"}, 1.0)]
        second = train(root, "pred_b", seed=11)  # trained and promoted while the service runs
        assert second != first
        assert model_info(client) == [({"model_version": second, "source": "promoted"}, 1.0)]


def test_no_model_is_named_while_latest_json_is_unreadable(trained_copy, prediction_client) -> None:
    root, _ = trained_copy
    latest_path(root).write_text("{not json")
    with prediction_client(root) as client:
        assert model_info(client) == []  # predictions answer 503 model_unavailable: nothing is served
        assert client.get("/ready").status_code == 503
