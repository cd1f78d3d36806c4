"""Whole DAG runs with `dag.test()` against the five services running as real processes.

dag.test() runs every task in this process, the deferrable training included: when a task defers,
Airflow 3.3's dag.test runs its trigger in-process (`_run_inline_trigger`) and resumes the task
(`test_training_run_defers_and_its_model_serves_the_next_analysis` checks that the training task
really went through the deferral). Conf goes through the same params validation as a REST trigger.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent
from airflow.sdk.exceptions import ParamValidationError
from airflow.utils.session import create_session
from sqlalchemy import select

from fixtures.audio import synth_song, write_not_audio
from fixtures.datasets import make_features_dataset, make_random_label_dataset
from fixtures.lyrics import generate_lyrics, write_sidecar
from fixtures.songs_dataset import make_raw_dataset
from hss_airflow.storage import safe_name
from stack.paths import DAGS_SOURCE as DAGS_FOLDER

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dags(airflow_db: Path) -> dict[str, Any]:
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


@pytest.fixture(scope="module")
def services(live_services: dict[str, str], airflow_data_root: Path) -> Iterator[Path]:
    yield airflow_data_root


def run(dag: Any, conf: dict[str, Any]) -> tuple[Any, dict[str, Any], float]:
    """dag.test(conf) -> (dag run, {task_id or task_id[map_index]: ti}, seconds)."""
    started = time.monotonic()
    dr = dag.test(run_conf=conf)
    seconds = time.monotonic() - started
    tis = {ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": ti for ti in dr.get_task_instances()}
    print(
        f"dag.test {dag.dag_id}: {dr.state} in {seconds:.1f} s; " + ", ".join(f"{k}={v.state}" for k, v in tis.items())
    )
    return dr, tis, seconds


def states(tis: dict[str, Any]) -> dict[str, str]:
    return {key: str(ti.state) for key, ti in tis.items()}


def result_of(root: Path, song_id: str, dr: Any) -> dict[str, Any]:
    files = list((root / "results" / "songs" / song_id).glob("*.json"))
    matching = [json.loads(p.read_text()) for p in files]
    matching = [doc for doc in matching if doc["run"]["run_id"] == dr.run_id]
    assert len(matching) == 1, f"expected one result file for run {dr.run_id}, found {files}"
    return matching[0]


def test_comprehensive_analysis_writes_all_four_parts_for_the_song(dags, services: Path) -> None:
    song = services / "songs" / "run_demo.wav"
    synth_song(song, bpm=124.0, tonic="G", seconds=8.0)
    write_sidecar(song, generate_lyrics(seed=3, hook_level=0.8))

    dr, tis, _ = run(dags["comprehensive_analysis"], {"song_id": "run_demo", "song_path": "songs/run_demo.wav"})

    assert str(dr.state) == "success", states(tis)
    assert set(states(tis).values()) == {"success"}
    doc = result_of(services, "run_demo", dr)
    assert {"audio", "content", "prediction", "insights"} <= set(doc)
    for part in ("audio", "content", "prediction", "insights"):
        assert doc[part]["song_id"] == "run_demo"
    assert len(doc["audio"]["features"]) >= 150
    claim = tis["audio_analysis"].xcom_pull(task_ids="audio_analysis")  # XCom carried a claim check…
    assert "features" not in claim and len(json.dumps(claim)) < 2000
    stored = json.loads((services / claim["claim_check"]["path"]).read_text())  # …redeemed into the result
    assert stored == doc["audio"]
    assert doc["content"]["instrumental"] is False  # the sidecar's lyrics were read
    assert 0.0 <= doc["prediction"]["hit_probability"] <= 1.0
    assert doc["insights"]["recommendations"]


def test_bad_conf_is_refused_before_any_task_runs(dags, airflow_db: Path) -> None:
    dag = dags["comprehensive_analysis"]
    with pytest.raises(ParamValidationError, match="song_id"):
        dag.test(run_conf={"song_path": "songs/x.wav"})
    with pytest.raises(ParamValidationError, match="song_id"):
        dag.test(run_conf={"song_id": "../etc/passwd", "song_path": "songs/x.wav"})


def test_training_run_defers_and_its_model_serves_the_next_analysis(
    dags, services: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csv = make_raw_dataset(services, "dagrun_raw", n_songs=24, seconds=6.0, seed=5, lyrics="sidecar")
    training_id = f"dagrun_{int(time.time())}"
    conf = {
        "dataset_path": csv.relative_to(services).as_posix(),
        "training_id": training_id,
        "batch_size": 10,
        "max_concurrent_requests": 4,
    }

    with caplog.at_level(logging.INFO):
        dr, tis, _ = run(dags["ml_training_smart_ensemble"], conf)

    assert str(dr.state) == "success", states(tis)
    mapped = [k for k in tis if k.startswith("process_training_dataset.extract_batch_features[")]
    assert len(mapped) == 3  # 24 rows in batches of 10
    assert tis["process_training_dataset.extract_batch_features[2]"].rendered_map_index == "batch 2: 4 rows"
    # The training task deferred, dag.test ran MLTrainingJobTrigger in-process, the task resumed (one try).
    assert tis["smart_ensemble_training"].try_number == 1
    assert "[DAG TEST] running trigger in line" in caplog.text and "[DAG TEST] Trigger completed" in caplog.text
    report = json.loads((services / "results" / "training" / training_id / "report.json").read_text())
    assert report["model_version"].startswith(f"{training_id}@")
    assert len(report["models"]) == 5 and report["dataset"]["rows"] == 24
    assert (services / "results" / "training" / training_id / "feature_importances.png").read_bytes()[:4] == b"\x89PNG"
    features = (services / "training_data" / "features" / f"{training_id}.csv").read_text().splitlines()
    assert len(features) == 25 and features[0].endswith(",is_hit")
    # promotion=auto over the baseline (the first model this session promotes): promoted, and said why.
    assert str(tis["promote_model"].state) == "success"
    promotion = report["promotion"]
    assert promotion["promoted"] is True and promotion["serving_before"] == "baseline-v1"
    assert "nothing is promoted yet" in promotion["reason"] and promotion["mode"] == "auto"

    song = services / "songs" / "after_training.wav"
    synth_song(song, bpm=132.0, tonic="D", seconds=6.0)
    dr2, tis2, _ = run(dags["comprehensive_analysis"], {"song_id": "after_training", "song_path": str(song)})
    assert str(dr2.state) == "success", states(tis2)
    assert result_of(services, "after_training", dr2)["prediction"]["model_version"] == report["model_version"]


def test_batch_analysis_maps_one_task_per_chunk_and_writes_each_analysis(dags, services: Path) -> None:
    folder = services / "songs" / "batch_three"
    for i, bpm in enumerate((96.0, 110.0, 128.0)):
        synth_song(folder / f"track {i}.wav", bpm=bpm, seconds=6.0)
    (folder / "notes.txt").write_text("not a song")

    dr, tis, _ = run(dags["batch_analysis"], {"folder": "songs/batch_three", "chunk_size": 2})

    assert str(dr.state) == "success", states(tis)
    mapped = {k: v for k, v in tis.items() if k.startswith("audio_analysis[")}
    assert len(mapped) == 2 and {str(ti.state) for ti in mapped.values()} == {"success"}  # 3 songs, chunks of 2
    assert sorted(ti.rendered_map_index for ti in mapped.values()) == ["track_0 … track_1 (2)", "track_2"]
    summary = json.loads((services / "results" / "batch" / f"{safe_name(dr.run_id)}.json").read_text())
    assert summary["analysed"] == 3 and summary["failed"] == []
    assert sorted(s["song_id"] for s in summary["songs"]) == ["track_0", "track_1", "track_2"]
    for song in summary["songs"]:
        data = (services / song["analysis_path"]).read_bytes()  # the claim check: XCom holds the reference
        assert hashlib.sha256(data).hexdigest() == song["sha256"]
        analysis = json.loads(data)
        assert analysis["song_id"] == song["song_id"] and len(analysis["features"]) == song["feature_count"] >= 150
    outcomes = [o for ti in mapped.values() for o in ti.xcom_pull(task_ids="audio_analysis", map_indexes=ti.map_index)]
    assert len(json.dumps(outcomes)) < 3000, "the chunk tasks' XCom carries references, not the features"


def test_batch_analysis_records_a_broken_song_and_fails_the_run(dags, services: Path) -> None:
    folder = services / "songs" / "batch_broken"
    synth_song(folder / "good.wav", bpm=100.0, seconds=6.0)
    write_not_audio(folder / "broken.mp3")

    dr, tis, _ = run(dags["batch_analysis"], {"folder": "songs/batch_broken", "pattern": "*.*", "chunk_size": 2})

    assert str(dr.state) == "failed"
    chunk = tis["audio_analysis[0]"]  # one chunk: broken.mp3 and good.wav
    assert str(chunk.state) == "failed" and chunk.try_number == 1  # a 4xx is not retried
    summary = json.loads((services / "results" / "batch" / f"{safe_name(dr.run_id)}.json").read_text())
    assert summary["failed"] == ["broken"] and summary["analysed"] == 1  # the good song of the chunk is kept
    broken = next(s for s in summary["songs"] if s["song_id"] == "broken")
    assert "HTTP 422" in broken["error"], broken["error"]  # the service's message, from the chunk task
    good = next(s for s in summary["songs"] if s["song_id"] == "good")
    assert (services / good["analysis_path"]).is_file()


def test_batch_analysis_with_chunk_size_1_maps_one_task_per_song(dags, services: Path) -> None:
    folder = services / "songs" / "batch_single"
    for i in range(2):
        synth_song(folder / f"one_{i}.wav", bpm=100.0 + i, seconds=5.0)

    dr, tis, _ = run(dags["batch_analysis"], {"folder": "songs/batch_single", "chunk_size": 1})

    assert str(dr.state) == "success", states(tis)
    mapped = sorted(ti.rendered_map_index for k, ti in tis.items() if k.startswith("audio_analysis["))
    assert mapped == ["one_0", "one_1"]


def test_dataset_dropped_into_incoming_is_claimed_as_a_partitioned_asset_event(dags, services: Path) -> None:
    incoming = services / "training_data" / "incoming"
    staged = make_features_dataset(services / "training_data" / ".staging.csv", n_rows=120)
    incoming.mkdir(parents=True, exist_ok=True)
    shutil.move(staged, incoming / "fresh_export.csv")  # renamed in, as the DAG's doc asks

    dr, tis, _ = run(dags["dataset_triggered_training"], {})

    assert str(dr.state) == "success", states(tis)
    assert not list(incoming.glob("*.csv"))
    claimed = list((services / "training_data" / "claimed").glob("fresh_export__*.csv"))
    assert len(claimed) == 1
    # The event that schedules train_on_new_dataset (the full-stack tests follow it into the training).
    with create_session() as session:
        events = [
            (e.asset.name, e.extra, e.partition_key)
            for e in session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dr.run_id))
        ]
    [(asset, extra, partition_key)] = events
    assert asset == "hss_training_dataset" and extra["original_name"] == "fresh_export.csv"
    assert extra["dataset_path"] == claimed[0].relative_to(services).as_posix()
    assert partition_key == extra["training_id"]  # one train_on_new_dataset run per claimed file


def test_a_model_worse_than_the_serving_one_is_kept_and_never_promotes_nothing(dags, services: Path) -> None:
    """A good model serves (AUC ~0.8); one trained on shuffled labels (AUC ~0.5) is kept by auto, and
    promotion=never keeps even the better one."""
    good = make_features_dataset(services / "training_data" / "promo_good.csv", n_rows=200, seed=7)
    conf = {"dataset_path": good.relative_to(services).as_posix(), "training_id": "promo_good"}
    dr, tis, _ = run(dags["ml_training_smart_ensemble"], conf)  # promoted unless an even better one serves
    assert str(dr.state) == "success", states(tis)
    latest = json.loads((services / "models" / "latest.json").read_text())
    serving, serving_auc = latest["model_version"], latest["ensemble_auc"]
    assert serving_auc > 0.7, latest
    cases = (
        ("auto", "promo_noise", make_random_label_dataset),
        ("never", "promo_never", lambda path: make_features_dataset(path, n_rows=200, seed=7)),
    )
    for mode, training_id, make in cases:
        csv = make(services / "training_data" / f"{training_id}.csv")
        conf = {"dataset_path": csv.relative_to(services).as_posix(), "training_id": training_id, "promotion": mode}
        dr, tis, _ = run(dags["ml_training_smart_ensemble"], conf)
        assert str(dr.state) == "success", states(tis)
        assert str(tis["promote_model"].state) == "skipped"  # a skipped task emits no hss_trained_model event
        promotion = json.loads((services / "results/training" / training_id / "report.json").read_text())["promotion"]
        assert promotion["promoted"] is False and promotion["serving_before"] == serving, promotion
        assert "stays in service" in promotion["reason"]
        assert json.loads((services / "models" / "latest.json").read_text())["model_version"] == serving


def test_daily_training_needs_no_conf_and_names_the_model_after_the_logical_date(dags, services: Path) -> None:
    make_features_dataset(services / "training_data" / "daily.csv", n_rows=80, seed=3)

    started = time.monotonic()
    dr = dags["daily_model_training"].test(logical_date=datetime(2026, 3, 4, 2, 0, tzinfo=UTC))
    print(f"dag.test daily_model_training: {dr.state} in {time.monotonic() - started:.1f} s")

    assert str(dr.state) == "success"
    report = json.loads((services / "results" / "training" / "daily_20260304" / "report.json").read_text())
    assert report["model_version"].startswith("daily_20260304@") and report["n_rows"] == 80


def test_rescore_library_records_the_serving_models_probability_beside_the_original(dags, services: Path) -> None:
    serving = json.loads((services / "models" / "latest.json").read_text())["model_version"]
    song = services / "songs" / "rescored.wav"
    synth_song(song, bpm=118.0, tonic="C", seconds=6.0)
    analysed, tis, _ = run(dags["comprehensive_analysis"], {"song_id": "rescored", "song_path": str(song)})
    assert str(analysed.state) == "success", states(tis)

    dr, tis, _ = run(dags["rescore_library"], {})  # by hand: the serving model

    assert str(dr.state) == "success", states(tis)
    document = result_of(services, "rescored", analysed)
    assert document["prediction"]["model_version"] == serving  # the analysis' own prediction, untouched
    [rescore] = document["rescores"]
    assert rescore["model_version"] == serving and rescore["rescore_run_id"] == dr.run_id
    assert rescore["hit_probability"] == pytest.approx(document["prediction"]["hit_probability"])  # same model
