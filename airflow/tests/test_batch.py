"""hss_airflow.batch: listing a folder's songs and the batch summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from contracts.common import IDENTIFIER_PATTERN
from hss_airflow.batch import BatchError, batch_summary, list_songs, song_id_for, write_batch_summary

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


def test_batch_summary_marks_songs_without_a_result_as_failed(root: Path) -> None:
    songs = [{"song_id": "a", "song_path": "songs/a.wav"}, {"song_id": "b", "song_path": "songs/b.wav"}]
    results = [{"song_id": "a", "highlights": {"tempo_bpm": 120.0}, "feature_count": 180}, None]
    summary = batch_summary(songs, results, {"run_id": RUN_ID})
    assert summary["failed"] == ["b"] and summary["analysed"] == 1
    assert summary["songs"][0]["feature_count"] == 180
    path = write_batch_summary(summary, RUN_ID)
    assert path.startswith("results/batch/") and json.loads((root / path).read_text())["total"] == 2
