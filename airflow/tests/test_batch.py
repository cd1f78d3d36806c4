"""hss_airflow.batch: listing a folder's songs and the batch summary."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from contracts.common import IDENTIFIER_PATTERN
from hss_airflow.batch import (
    BatchError,
    batch_summary,
    chunk_songs,
    list_songs,
    song_id_for,
    songs_of,
    write_batch_summary,
    write_song_analysis,
)

RUN_ID = "manual__2026-11-24T04:32:02.560962+00:00"


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


def test_batch_summary_records_each_songs_outcome_and_a_song_without_one_as_failed(root: Path) -> None:
    songs = [{"song_id": x, "song_path": f"songs/{x}.wav"} for x in ("a", "b", "c")]
    analysed = {"song_id": "a", "status": "analysed", "highlights": {"tempo_bpm": 120.0}, "feature_count": 180}
    refused = {"song_id": "b", "status": "failed", "error": "HTTP 422 not_audio", "retryable": False}
    summary = batch_summary(
        songs,
        [{**analysed, "analysis_path": "results/batch/r/a.json", "sha256": "0"}, refused, None],
        {"run_id": RUN_ID},
    )
    assert summary["failed"] == ["b", "c"] and summary["analysed"] == 1 and summary["total"] == 3
    a, b, c = summary["songs"]
    assert (a["feature_count"], a["analysis_path"], a["status"]) == (180, "results/batch/r/a.json", "analysed")
    assert b["error"] == "HTTP 422 not_audio" and "did not report" in c["error"]
    path = write_batch_summary(summary, RUN_ID)
    assert path.startswith("results/batch/") and json.loads((root / path).read_text())["total"] == 3


def test_songs_are_cut_into_chunks_in_order() -> None:
    songs = [{"song_id": str(i), "song_path": f"songs/{i}.wav"} for i in range(5)]
    chunks = chunk_songs(songs, 2)
    assert [[s["song_id"] for s in c["songs"]] for c in chunks] == [["0", "1"], ["2", "3"], ["4"]]
    assert songs_of(chunks) == songs and len(chunk_songs(songs, 1)) == 5 and len(chunk_songs(songs, 9)) == 1
    with pytest.raises(BatchError, match="chunk_size"):
        chunk_songs(songs, 0)


def test_a_song_analysis_is_written_under_its_run_with_the_digest_of_its_bytes(root: Path) -> None:
    analysis = {"song_id": "x", "features": {"f": 1.0}, "feature_count": 1, "highlights": {}, "analysis_seconds": 2.0}
    reference = write_song_analysis(analysis, RUN_ID, "weird/../id")
    path = root / reference["analysis_path"]
    assert path.parent.parent == root / "results" / "batch" and path.parent.name.startswith("manual__")
    assert path.resolve().parent == path.parent and path.name.startswith("weird_")  # a file-name-safe id
    assert (
        hashlib.sha256(path.read_bytes()).hexdigest() == reference["sha256"]
        and reference["bytes"] == path.stat().st_size
    )
    assert json.loads(path.read_bytes()) == analysis and reference["analysis_seconds"] == 2.0
