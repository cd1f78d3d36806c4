"""The load users send real, contract-valid bodies, and the locustfile defines exactly the catalogued classes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from contracts.audio import AudioAnalysisRequest, AudioAnalysisResponse
from contracts.common import IDENTIFIER_PATTERN
from contracts.content import LyricsAnalysisRequest, LyricsAnalysisResponse
from contracts.prediction import PredictionRequest
from load import payloads
from load.targets import STACK_FILE_ENV, USER_CLASSES
from stack.paths import REPO_ROOT


def test_audio_requests_name_six_distinct_songs_under_songs_load() -> None:
    bodies = payloads.audio_requests()
    assert [AudioAnalysisRequest.model_validate(b).model_dump(mode="json") for b in bodies] == bodies
    assert len({b["song_path"] for b in bodies}) == 6
    assert all(b["song_path"].startswith("songs/load/") and b["song_path"].endswith(".wav") for b in bodies)
    assert len({song.bpm for song in payloads.LOAD_SONGS}) == 6


def test_dag_confs_carry_an_identifier_and_a_relative_path() -> None:
    for conf in payloads.dag_confs():
        assert set(conf) == {"song_id", "song_path"}
        assert re.match(IDENTIFIER_PATTERN, conf["song_id"]) and not Path(conf["song_path"]).is_absolute()


def test_lyrics_requests_are_distinct_valid_texts_including_an_instrumental() -> None:
    bodies = payloads.lyrics_requests()
    for body in bodies:
        LyricsAnalysisRequest.model_validate(body)
    texts = [b["lyrics"] for b in bodies]
    assert len(set(texts)) == len(texts) >= 12 and "" in texts


def test_prediction_requests_carry_each_analysed_songs_real_features() -> None:
    song = payloads.LOAD_SONGS[3]
    audio = {"rhythm.bpm": 120.0, "lowlevel.loudness_ebu128.integrated": -9.0}
    analysis = payloads.Analysis(
        song,
        AudioAnalysisResponse.model_construct(song_id=song.song_id, features=audio),
        LyricsAnalysisResponse.model_construct(song_id=song.song_id, features={"lyrics.hook_strength": 0.5}),
    )
    [body] = payloads.prediction_requests([analysis])
    request = PredictionRequest.model_validate(body)
    assert request.song_id == song.song_id and request.audio_features == audio
    assert request.content_features == {"lyrics.hook_strength": 0.5}


def test_prepare_songs_writes_songs_and_sidecars_once(tmp_path: Path) -> None:
    written = payloads.prepare_songs(tmp_path)
    folder = tmp_path / payloads.SONGS_DIR
    assert sorted(p.name for p in written) == sorted(Path(s.song_path).name for s in payloads.LOAD_SONGS)
    assert all(p.stat().st_size > 100_000 for p in written)  # 8 s of 44.1 kHz audio
    sidecars = sorted(p.stem for p in folder.glob("*.txt"))
    assert sidecars == sorted(s.song_id for s in payloads.LOAD_SONGS if s.lyrics)  # instrumental: none
    assert not list(folder.glob(".*tmp*"))  # written under a temp name, then renamed
    assert payloads.prepare_songs(tmp_path) == []  # present: skipped


def test_the_locustfile_defines_the_catalogued_user_classes(tmp_path: Path) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text(json.dumps({"airflow": {"url": "http://127.0.0.1:9"}, "services": {}, "api_key": "k"}))
    listed = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "load/locustfile.py", "--list"],
        cwd=REPO_ROOT,
        env={**os.environ, STACK_FILE_ENV: str(stack)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    classes = [line.strip() for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert sorted(classes) == sorted(USER_CLASSES)
