"""hss_airflow.results: the comprehensive_analysis result document and where it is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hss_airflow.results import analysis_document, result_path, top_recommendation, write_analysis_result

RUN_ID = "manual__2026-11-24T04:32:02.560962+00:00"

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
    assert path.parent == root / "results" / "songs" / "s1" and ":" not in path.name and "+" not in path.name
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
    files = list((root / "results" / "songs" / "s1").iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text())["prediction"]["hit_probability"] == 0.9
    write_analysis_result(analysis_document(song_id="s1", song_path="p", run={}, parts=PARTS), RUN_ID + "x")
    assert len(list((root / "results" / "songs" / "s1").iterdir())) == 2


def test_a_result_without_all_four_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="insights"):
        analysis_document(song_id="s1", song_path="p", run={}, parts={**PARTS, "insights": None})
    assert top_recommendation({"recommendations": []}) is None
