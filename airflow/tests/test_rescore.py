"""hss_airflow.rescore: which files rescore_library reads, and what it writes into them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hss_airflow.hooks import ServiceRejected
from hss_airflow.incoming import NotTriggeredByAClaim, claim_of_events
from hss_airflow.rescore import newest_results, plan_batches, requested_model, rescore_batch


def analysis(song_id: str, probability: float, model: str = "baseline-v1") -> dict[str, Any]:
    return {
        "song_id": song_id,
        "audio": {"features": {"rhythm.bpm": 120.0}},
        "content": {"features": {"lyrics.sentiment_compound": 0.2}},
        "prediction": {"hit_probability": probability, "model_version": model},
    }


def write(path: Path, document: Any, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    os.utime(path, (mtime, mtime))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    write(tmp_path / "results/songs/a/run_1.json", analysis("a", 0.2), 1000)
    write(tmp_path / "results/songs/a/run_2.json", analysis("a", 0.3), 2000)  # the newest of a
    write(tmp_path / "results/songs/a/.run_3.json.x.tmp", "{half", 3000)  # a write in progress
    write(tmp_path / "results/songs/b/run_1.json", analysis("b", 0.6), 1000)
    write(tmp_path / "results/songs/batch/run_9.json", {"total": 2}, 1000)  # a song named batch: no analysis
    write(tmp_path / "results/songs/c/run_1.json", "{not json", 1000)
    write(tmp_path / "results/batch/run_9.json", {"total": 2}, 1000)  # a batch summary: not listed
    write(tmp_path / "results/a/run_0.json", analysis("a", 0.1), 500)  # layout 1 (migrated at stack start): not read
    (tmp_path / "results/training/t1").mkdir(parents=True)  # training reports: not listed
    return tmp_path


def fake_predict(calls: list[dict[str, Any]]):
    def predict(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload)
        if payload["song_id"] == "b" and payload["model_version"] == "refuse@1":
            raise ServiceRejected("prediction answered 409 model_not_promoted")
        model = payload["model_version"] or "serving@1"
        return {"model_version": model, "hit_probability": payload["audio_features"]["rhythm.bpm"] / 200}

    return predict


def test_the_newest_file_of_each_song_is_listed(library: Path) -> None:
    assert newest_results(library) == [
        "results/songs/a/run_2.json",
        "results/songs/b/run_1.json",
        "results/songs/batch/run_9.json",
        "results/songs/c/run_1.json",
    ]
    assert plan_batches(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert newest_results(library / "nothing") == []


def test_rescoring_records_each_model_beside_the_original_prediction(library: Path) -> None:
    calls: list[dict[str, Any]] = []
    paths = newest_results(library)
    first = rescore_batch(paths, "m1@1", "rescore_1", fake_predict(calls), library)
    assert (first["rescored"], first["skipped"], first["refused"]) == (2, 2, 0)
    assert calls[0]["content_features"] == {"lyrics.sentiment_compound": 0.2}
    rescore_batch(paths, "m2@2", "rescore_2", fake_predict(calls), library)
    rescore_batch(paths, "m1@1", "rescore_3", fake_predict(calls), library)  # same model again: replaced
    document = json.loads((library / "results/songs/a/run_2.json").read_text())
    assert document["prediction"] == {"hit_probability": 0.3, "model_version": "baseline-v1"}  # untouched
    assert [(r["model_version"], r["rescore_run_id"]) for r in document["rescores"]] == [
        ("m2@2", "rescore_2"),
        ("m1@1", "rescore_3"),
    ]
    assert json.loads((library / "results/songs/a/run_1.json").read_text()).get("rescores") is None  # older: left alone


def test_a_song_the_service_refuses_is_reported_and_the_others_are_rescored(library: Path) -> None:
    paths = ["results/songs/a/run_2.json", "results/songs/b/run_1.json"]
    outcome = rescore_batch(paths, "refuse@1", "r", fake_predict([]), library)
    assert (outcome["rescored"], outcome["refused"]) == (1, 1)
    [refused] = [o for o in outcome["outcomes"] if o["status"] == "refused"]
    assert refused["song_id"] == "b" and "model_not_promoted" in refused["reason"]
    assert "rescores" not in json.loads((library / "results/songs/b/run_1.json").read_text())


def test_the_model_comes_from_conf_then_the_newest_event_then_the_serving_one() -> None:
    events = [{"model_version": "m1@1"}, {"model_version": "m2@2"}]
    assert requested_model("pinned@9", events) == "pinned@9"
    assert requested_model(None, events) == "m2@2"
    assert requested_model(None, []) is None


def test_a_training_run_takes_the_claim_of_its_partition() -> None:
    claim = {"dataset_path": "training_data/claimed/x.csv", "original_name": "x.csv", "training_id": "x_1"}
    other = {**claim, "training_id": "y_2"}
    assert claim_of_events([other, claim], "x_1") == claim
    with pytest.raises(NotTriggeredByAClaim, match="not triggered by a claimed dataset"):
        claim_of_events([other], "x_1")
    with pytest.raises(NotTriggeredByAClaim, match="ml_training_smart_ensemble"):
        claim_of_events([], None)  # triggered by hand
    with pytest.raises(NotTriggeredByAClaim, match="lacks dataset_path"):
        claim_of_events([{"training_id": "x_1"}], "x_1")
