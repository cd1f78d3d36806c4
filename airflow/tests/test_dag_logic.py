"""The plain modules behind the DAGs (hss_airflow), without a scheduler, a DB or services."""

from __future__ import annotations

import csv
import json
import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.common import IDENTIFIER_PATTERN
from contracts.training import TrainingJob
from fixtures.datasets import (
    make_binary_dataset,
    make_empty_dataset,
    make_features_dataset,
    make_missing_label_dataset,
    make_one_class_dataset,
)
from hss_airflow import storage
from hss_airflow.batch import BatchError, batch_summary, list_songs, song_id_for, write_batch_summary
from hss_airflow.datasets import (
    DatasetError,
    check_training_config,
    merge_features,
    plan_batches,
    plan_dataset,
    run_batch,
)
from hss_airflow.incoming import DataRootFileSensor, NothingToClaim, claim_dataset
from hss_airflow.reports import training_report, write_training_report
from hss_airflow.results import analysis_document, result_path, top_recommendation, write_analysis_result
from hss_airflow.service_calls import ServiceRejected, ServiceUnavailable

RUN_ID = "manual__2026-11-24T04:32:02.560962+00:00"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HSS_DATA_ROOT", str(tmp_path))
    (tmp_path / "training_data").mkdir()
    return tmp_path.resolve()


# --- storage -----------------------------------------------------------------------------------


def test_safe_name_keeps_safe_ids_and_makes_run_ids_file_names_without_collisions() -> None:
    assert storage.safe_name("song_001") == "song_001"
    name = storage.safe_name(RUN_ID)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", name) and name == storage.safe_name(RUN_ID)
    assert storage.safe_name("a:b") != storage.safe_name("a+b")
    assert not storage.safe_name("../../etc").startswith(".")
    assert len(storage.safe_name("x" * 500)) <= 150


def test_resolve_in_root_refuses_paths_that_leave_the_root(root: Path, tmp_path_factory) -> None:
    (root / "songs").mkdir()
    (root / "songs" / "a.wav").write_bytes(b"x")
    outside = tmp_path_factory.mktemp("outside") / "b.wav"
    outside.write_bytes(b"x")
    (root / "songs" / "link.wav").symlink_to(outside)
    assert storage.resolve_in_root("songs/a.wav") == root / "songs" / "a.wav"
    assert storage.resolve_in_root(str(root / "songs" / "a.wav")) == root / "songs" / "a.wav"
    for bad in ("../b.wav", str(outside), "songs/link.wav", "", "songs/missing.wav"):
        with pytest.raises(storage.DataPathError):
            storage.resolve_in_root(bad)


def test_atomic_write_leaves_the_old_file_and_no_temp_file_when_it_fails(root: Path, monkeypatch) -> None:
    target = root / "results" / "x.json"
    storage.atomic_write_json(target, {"v": 1})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        storage.atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_atomic_write_leaves_a_result_others_can_read(root: Path) -> None:
    """Workers write as uid 50000 into the host's data folder: the host's user must still read the results."""
    target = storage.atomic_write_json(root / "results" / "x.json", {"v": 1})
    assert target.stat().st_mode & 0o777 == 0o644


# --- comprehensive_analysis results ------------------------------------------------------------

PARTS = {
    "audio": {"song_id": "s1", "features": {"rhythm.bpm": 120.0}},
    "content": {"song_id": "s1", "features": {}},
    "prediction": {"song_id": "s1", "hit_probability": 0.7, "model_version": "m@1"},
    "insights": {
        "song_id": "s1",
        "recommendations": [
            {"area": "tempo", "priority": "low", "message": "slower"},
            {"area": "loudness", "priority": "high", "message": "louder"},
            {"area": "hook", "priority": "high", "message": "second high"},
        ],
    },
}


def test_result_is_written_under_the_song_with_a_safe_run_id_and_summarised(root: Path) -> None:
    doc = analysis_document(song_id="s1", song_path="songs/s1.wav", run={"run_id": RUN_ID}, parts=PARTS)
    summary = write_analysis_result(doc, RUN_ID)
    path = result_path("s1", RUN_ID)
    assert path.parent == root / "results" / "s1" and ":" not in path.name and "+" not in path.name
    assert summary == {
        "song_id": "s1",
        "hit_probability": 0.7,
        "model_version": "m@1",
        "top_recommendation": "louder",
        "result_path": path.relative_to(root).as_posix(),
    }
    assert set(json.loads(path.read_text())) >= {"audio", "content", "prediction", "insights", "run", "song_id"}


def test_rerunning_the_same_run_rewrites_the_same_file(root: Path) -> None:
    for probability in (0.1, 0.9):
        parts = {**PARTS, "prediction": {**PARTS["prediction"], "hit_probability": probability}}
        write_analysis_result(analysis_document(song_id="s1", song_path="p", run={}, parts=parts), RUN_ID)
    files = list((root / "results" / "s1").iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text())["prediction"]["hit_probability"] == 0.9
    write_analysis_result(analysis_document(song_id="s1", song_path="p", run={}, parts=PARTS), RUN_ID + "x")
    assert len(list((root / "results" / "s1").iterdir())) == 2


def test_a_result_without_all_four_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="insights"):
        analysis_document(song_id="s1", song_path="p", run={}, parts={**PARTS, "insights": None})
    assert top_recommendation({"recommendations": []}) is None


# --- training datasets -------------------------------------------------------------------------


def test_plan_batches_cuts_rows_in_order_and_never_exceeds_the_request_budget() -> None:
    batches = plan_batches(list(range(24)), 10, 50)
    assert [len(b["rows"]) for b in batches] == [10, 10, 4] and batches[0]["max_in_flight"] == 25
    for n_rows in (1, 7, 24, 401):
        for batch_size in (1, 3, 10, 400):
            for budget in (1, 2, 3, 50, 200):
                plan = plan_batches(list(range(n_rows)), batch_size, budget)
                assert [r for b in plan for r in b["rows"]] == list(range(n_rows))
                running = min(2, len(plan))  # PARALLEL_BATCHES run at once
                assert running * plan[0]["max_in_flight"] <= budget, (n_rows, batch_size, budget)
    assert plan_batches(list(range(24)), 10, 1) == [{"batch": 0, "rows": list(range(24)), "max_in_flight": 1}]
    assert plan_batches([], 10, 50) == []


def write_raw(root: Path, rows: list[dict[str, Any]], name: str = "raw.csv") -> str:
    path = root / "training_data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return f"training_data/{name}"


def config_for(root: Path, dataset: str, **overrides: Any) -> dict[str, Any]:
    params = {"dataset_path": dataset, "training_id": "t1", "batch_size": 2, "max_concurrent_requests": 4}
    return check_training_config({**params, **overrides}, root)


def test_training_config_on_a_features_dataset_needs_no_extraction(root: Path) -> None:
    make_features_dataset(root / "training_data" / "f.csv", n_rows=40)
    config = config_for(root, "training_data/f.csv")
    assert config["rows"] == 40 and config["rows_to_extract"] == 0
    assert config["features_path"] == "training_data/features/t1.csv"
    assert plan_dataset(config, root) == []


@pytest.mark.parametrize(
    "make,params,message",
    [
        (None, {"dataset_path": "training_data/missing.csv"}, "no file"),
        (None, {"dataset_path": "../outside.csv"}, "outside the data root"),
        (lambda r: (r / "training_data" / "d.txt").write_text("is_hit\n1\n"), {"dataset_path": "training_data/d.txt"},
         "not a .csv"),
        (lambda r: make_empty_dataset(r / "training_data" / "e.csv"), {"dataset_path": "training_data/e.csv"}, "empty"),
        (lambda r: make_binary_dataset(r / "training_data" / "b.csv"), {"dataset_path": "training_data/b.csv"},
         "binary"),
        (lambda r: make_missing_label_dataset(r / "training_data" / "m.csv"), {"dataset_path": "training_data/m.csv"},
         "no 'is_hit' column"),
        (lambda r: make_one_class_dataset(r / "training_data" / "o.csv"), {"dataset_path": "training_data/o.csv"},
         "hits and non-hits"),
        (lambda r: make_features_dataset(r / "training_data" / "f.csv"), {"dataset_path": "training_data/f.csv",
         "training_id": "bad id"}, "training_id"),
    ],
    ids=["missing", "outside", "not-csv", "empty", "binary", "no-label", "one-class", "bad-training-id"],
)  # fmt: skip
def test_bad_training_configs_are_refused_with_a_reason(root: Path, make, params: dict, message: str) -> None:
    if make:
        make(root)
    with pytest.raises(DatasetError, match=message):
        config_for(root, **{"dataset": params.pop("dataset_path"), **params})


def test_labels_must_be_0_or_1_and_rows_need_features_or_a_song_path(root: Path) -> None:
    bad_label = write_raw(root, [{"song_id": "a", "song_path": "songs/a.wav", "is_hit": v} for v in (0, 1, 2)])
    with pytest.raises(DatasetError, match="line"):
        config_for(root, bad_label)
    rows = [{"song_id": f"s{i}", "song_path": "" if i == 3 else f"songs/s{i}.wav", "is_hit": i % 2} for i in range(5)]
    with pytest.raises(DatasetError, match=r"line.*5.*neither feature values nor a song_path"):
        config_for(root, write_raw(root, rows, "nopath.csv"))


def raw_dataset(root: Path, n: int = 6) -> dict[str, Any]:
    """n rows: the first two carry a feature value, the rest need extraction (lyrics column or sidecar)."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "song_id": f"s{i}",
                "song_path": f"songs/s{i}.wav",
                "lyrics": "la la la" if i == 2 else "",
                "rhythm.bpm": 100 + i if i < 2 else "",
                "is_hit": i % 2,
            }
        )
    (root / "songs").mkdir(exist_ok=True)
    (root / "songs" / "s3.txt").write_text("from the sidecar")
    return config_for(root, write_raw(root, rows))


class FakeServices:
    """Stands in for call_service: records lyrics, refuses some songs, measures requests in flight."""

    def __init__(self, refuse: set[str] = frozenset(), delay: float = 0.0) -> None:
        self.refuse, self.delay, self.lyrics = refuse, delay, {}
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(self.delay)
            if payload["song_id"] in self.refuse:
                raise ServiceRejected(f"POST on {kind} was refused: HTTP 422 not_audio: {payload['song_id']}")
            if kind == "audio":
                return {"features": {"rhythm.bpm": 120.0, "lowlevel.loudness": -9.0}}
            self.lyrics[payload["song_id"]] = payload["lyrics"]
            return {"features": {"lyrics.word_count": float(len(payload["lyrics"].split()))}}
        finally:
            with self.lock:
                self.in_flight -= 1


def test_extraction_reads_lyrics_from_the_column_or_the_sidecar_and_drops_refused_songs(root: Path) -> None:
    config = raw_dataset(root)
    assert config["rows_to_extract"] == 4
    services = FakeServices(refuse={"s5"})
    results = [run_batch(config, batch, root, call=services) for batch in plan_dataset(config, root)]
    assert services.lyrics == {"s2": "la la la", "s3": "from the sidecar", "s4": ""}
    assert sum(r["extracted"] for r in results) == 3
    dropped = [d for r in results for d in r["dropped"]]
    assert [(d["line"], d["song_id"]) for d in dropped] == [(7, "s5")] and "not_audio" in dropped[0]["reason"]

    summary = merge_features(config, results, root)
    out = root / "training_data" / "features" / "t1.csv"
    with out.open() as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["rhythm.bpm", "lowlevel.loudness", "lyrics.word_count", "is_hit"]
    assert [row["rhythm.bpm"] for row in table] == ["100", "101", "120", "120", "120"]  # original order
    assert [row["is_hit"] for row in table] == ["0", "1", "0", "1", "0"]
    assert summary["dataset_path"] == "training_data/features/t1.csv" and summary["dropped_count"] == 1


def test_a_batch_never_has_more_requests_open_than_its_share(root: Path) -> None:
    config = raw_dataset(root, n=14)
    services = FakeServices(delay=0.02)
    batch = {"batch": 0, "rows": list(range(2, 14)), "max_in_flight": 3}
    assert run_batch(config, batch, root, call=services)["extracted"] == 12
    assert services.peak == 3


def test_an_unreachable_service_fails_the_batch_instead_of_dropping_rows(root: Path) -> None:
    config = raw_dataset(root)

    def down(kind: str, payload: dict) -> dict:
        raise ServiceUnavailable("connection refused")

    with pytest.raises(ServiceUnavailable):
        run_batch(config, plan_dataset(config, root)[0], root, call=down)


def test_too_many_refused_songs_fail_the_merge_and_a_changed_dataset_is_noticed(root: Path) -> None:
    config = raw_dataset(root)
    results = [run_batch(config, b, root, call=FakeServices(refuse={"s3", "s4"})) for b in plan_dataset(config, root)]
    with pytest.raises(DatasetError, match="2 of 6 rows"):
        merge_features(config, results, root)
    (root / config["dataset_path"]).write_text("song_id,is_hit\na,1\n")
    with pytest.raises(DatasetError, match="changed since validate_training_config"):
        plan_dataset(config, root)


# --- training report ---------------------------------------------------------------------------


def finished_job(**overrides: Any) -> dict[str, Any]:
    models = [
        {"name": n, "auc": a, "auc_std": 0.02, "accuracy": 0.7, "f1": 0.6, "weight": w, "included": w > 0}
        for n, a, w in [("logistic", 0.8, 0.4), ("random_forest", 0.85, 0.6), ("knn", 0.52, 0.0)]
    ]
    job = {
        "job_id": "j1",
        "training_id": "t1",
        "dataset_path": "training_data/features/t1.csv",
        "status": "succeeded",
        "progress": 1.0,
        "model_version": "t1@abcd1234",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "metrics": {
            "models": models,
            "ensemble_auc": 0.87,
            "ensemble_accuracy": 0.8,
            "ensemble_f1": 0.75,
            "n_rows": 24,
            "n_features": 190,
            "positive_rate": 0.5,
            "feature_importances": {"rhythm.bpm": 0.12, "lowlevel.loudness": 0.08},
        },
    }
    return TrainingJob.model_validate({**job, **overrides}).model_dump(mode="json")  # the contract's shape


def test_training_report_and_chart_are_written_next_to_each_other(root: Path) -> None:
    from matplotlib.image import imread

    report = training_report(finished_job(), {"rows": 24, "dropped_count": 1}, {"run_id": RUN_ID})
    summary = write_training_report(report, root, auc_floor=0.55)
    folder = root / "results" / "training" / "t1"
    saved = json.loads((folder / "report.json").read_text())
    assert set(saved["models"]) == {"logistic", "random_forest", "knn"}
    assert saved["ensemble"] == {
        "auc": 0.87,
        "accuracy": 0.8,
        "f1": 0.75,
        "included_models": ["logistic", "random_forest"],
    }
    assert saved["model_version"] == "t1@abcd1234" and saved["dataset"]["dropped_count"] == 1
    image = imread(folder / "feature_importances.png")  # a real, decodable PNG
    assert image.shape[0] > 300 and image.shape[1] > 800
    assert summary["best_model"] == "random_forest" and summary["chart_path"].endswith(".png")
    assert summary["dropped_rows"] == 1 and summary["report_path"] == "results/training/t1/report.json"


def test_a_failed_job_gives_no_report() -> None:
    with pytest.raises(ValueError, match="did not succeed"):
        training_report(finished_job(status="failed", metrics=None, error="boom", model_version=None), None, {})


# --- batch analysis ----------------------------------------------------------------------------


def test_list_songs_takes_audio_files_matching_the_pattern_with_safe_unique_ids(root: Path) -> None:
    folder = root / "songs" / "album"
    folder.mkdir(parents=True)
    for name in ("b track.wav", "a.mp3", "a.flac", "notes.txt", "cover.png", ".hidden.ogg"):
        (folder / name).write_bytes(b"x")
    (folder / "sub").mkdir()
    songs = list_songs("songs/album", "*.*")
    assert songs == [
        {"song_id": "s.hidden", "song_path": "songs/album/.hidden.ogg"},
        {"song_id": "a", "song_path": "songs/album/a.flac"},
        {"song_id": "a_mp3", "song_path": "songs/album/a.mp3"},
        {"song_id": "b_track", "song_path": "songs/album/b track.wav"},
    ]
    assert all(re.match(IDENTIFIER_PATTERN, s["song_id"]) for s in songs)
    assert [s["song_id"] for s in list_songs("songs/album", "a.*")] == ["a", "a_mp3"]
    for folder_arg, pattern in (("../", "*.*"), ("songs/album", "*.aiff"), ("songs/nope", "*.*")):
        with pytest.raises(BatchError):
            list_songs(folder_arg, pattern)
    assert song_id_for("_x y") == "s_x_y" and song_id_for("ü") == "s_"


def test_batch_summary_marks_songs_without_a_result_as_failed(root: Path) -> None:
    songs = [{"song_id": "a", "song_path": "songs/a.wav"}, {"song_id": "b", "song_path": "songs/b.wav"}]
    results = [{"song_id": "a", "highlights": {"tempo_bpm": 120.0}, "feature_count": 180}, None]
    summary = batch_summary(songs, results, {"run_id": RUN_ID})
    assert summary["failed"] == ["b"] and summary["analysed"] == 1
    assert summary["songs"][0]["feature_count"] == 180
    path = write_batch_summary(summary, RUN_ID)
    assert path.startswith("results/batch/") and json.loads((root / path).read_text())["total"] == 2


# --- dataset_triggered_training ----------------------------------------------------------------


def test_claim_takes_the_oldest_file_once_and_is_idempotent_per_run(root: Path) -> None:
    incoming = root / "training_data" / "incoming"
    incoming.mkdir(parents=True)
    for i, name in enumerate(("new.csv", "old.csv")):
        (incoming / name).write_text("is_hit\n1\n")
        os.utime(incoming / name, (1000 - i * 100, 1000 - i * 100))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = claim_dataset("run_1", when, root)
    assert first["original_name"] == "old.csv" and not (incoming / "old.csv").exists()
    assert (root / first["dataset_path"]).is_file() and first["dataset_path"].startswith("training_data/claimed/")
    assert re.match(IDENTIFIER_PATTERN, first["training_id"]) and first["training_id"] == "old_20260102T030405"
    assert claim_dataset("run_1", when, root) == first  # retry of the same run: same claim
    assert claim_dataset("run_2", when, root)["original_name"] == "new.csv"
    with pytest.raises(NothingToClaim):
        claim_dataset("run_3", when, root)


def test_the_sensor_looks_under_the_data_root(root: Path) -> None:
    sensor = DataRootFileSensor(task_id="wait", filepath="training_data/incoming/*.csv")
    assert sensor.path == str(root / "training_data" / "incoming" / "*.csv")
    assert sensor.poke(context={}) is False
    (root / "training_data" / "incoming").mkdir(parents=True)
    (root / "training_data" / "incoming" / "d.csv").write_text("x")
    assert sensor.poke(context={}) is True
