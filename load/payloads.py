"""Real request bodies for the load users, each validated against its contract model.

- songs: six 8 s synthesized songs (different tempi and keys, with a lyrics sidecar) written once
  into `<data root>/songs/load/`; audio requests and DAG runs name them relative to the root.
- lyrics: the fixtures' named texts plus seeded generated ones (upbeat, sad, neutral).
- prediction: the real audio and lyrics features of the load songs, analysed once by the running stack
  at test start (a promoted model is trained on Essentia's features: invented rows would lack most).
- insights: built once from real audio, content and prediction responses of the running stack.

No Locust import here (see load/__init__.py); HTTP goes through `requests`, which the locustfile
may call too (gevent-patched there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import requests

from contracts.audio import AudioAnalysisRequest, AudioAnalysisResponse
from contracts.content import LyricsAnalysisRequest, LyricsAnalysisResponse
from contracts.data_layout import SONGS
from contracts.insights import InsightsRequest
from contracts.prediction import PredictionRequest, PredictionResponse
from fixtures.lyrics import NAMED_LYRICS, generate_lyrics, write_sidecar
from load.targets import AUDIO, CONTENT, PREDICTION, target_url

SONGS_DIR = f"{SONGS}/load"
SONG_SECONDS = 8.0  # one full I-IV-V-I cycle at >= 120 BPM; ~0.5 s of Essentia on one core


@dataclass(frozen=True)
class LoadSong:
    song_id: str
    bpm: float
    tonic: str
    scale: str
    lyrics: str

    @property
    def song_path(self) -> str:
        return f"{SONGS_DIR}/{self.song_id}.wav"


LOAD_SONGS: tuple[LoadSong, ...] = (
    LoadSong("load_song_0", 92, "D", "minor", NAMED_LYRICS["sad_ballad"]),
    LoadSong("load_song_1", 100, "G", "major", NAMED_LYRICS["verse_only"]),
    LoadSong("load_song_2", 110, "A", "minor", generate_lyrics(1, mood="neutral")),
    LoadSong("load_song_3", 120, "C", "major", NAMED_LYRICS["upbeat_pop"]),
    LoadSong("load_song_4", 128, "E", "minor", generate_lyrics(2, mood="upbeat", hook_level=0.8)),
    LoadSong("load_song_5", 140, "F", "major", ""),  # instrumental: no sidecar
)


def prepare_songs(root: Path) -> list[Path]:
    """Write the load songs (and lyrics sidecars) under `root`, skipping files already there; return the new ones."""
    written = []
    for i, song in enumerate(LOAD_SONGS):
        target = root / song.song_path
        if not (target.is_file() and target.stat().st_size > 0):
            from fixtures.audio import synth_song  # imports Essentia: only when a song is missing

            target.parent.mkdir(parents=True, exist_ok=True)
            # Written under a temp name, then renamed: an interrupted run never leaves half a song behind.
            tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.wav")
            try:
                synth_song(tmp, bpm=song.bpm, tonic=song.tonic, scale=song.scale, seconds=SONG_SECONDS, seed=i)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(target)
        if song.lyrics and not target.with_suffix(".txt").is_file():
            write_sidecar(target, song.lyrics)
    return written


def audio_requests() -> list[dict]:
    return [AudioAnalysisRequest(song_id=s.song_id, song_path=s.song_path).model_dump(mode="json") for s in LOAD_SONGS]


def dag_confs() -> list[dict]:
    """conf of comprehensive_analysis: lyrics come from the sidecar next to each song."""
    return [{"song_id": s.song_id, "song_path": s.song_path} for s in LOAD_SONGS]


def lyrics_requests(generated: int = 12) -> list[dict]:
    texts = list(NAMED_LYRICS.values())
    moods = ("upbeat", "sad", "neutral")
    texts += [generate_lyrics(seed, mood=moods[seed % 3], hook_level=(seed % 5) / 4) for seed in range(generated)]
    return [
        LyricsAnalysisRequest(song_id=f"load_lyrics_{i}", lyrics=text).model_dump(mode="json")
        for i, text in enumerate(texts)
    ]


@dataclass(frozen=True)
class Analysis:
    song: LoadSong
    audio: AudioAnalysisResponse
    content: LyricsAnalysisResponse


def _poster(targets: dict, timeout: float):
    headers = {"X-API-Key": targets.get("api_key") or ""}

    def post(service: str, path: str, body: dict) -> dict:
        url = f"{target_url(targets, service)}{path}"
        response = requests.post(url, json=body, headers=headers, timeout=timeout)
        if not response.ok:
            raise RuntimeError(f"load payloads: {url} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    return post


def analyse_songs(targets: dict, songs: tuple[LoadSong, ...] = LOAD_SONGS, timeout: float = 60.0) -> list[Analysis]:
    """One real audio + lyrics analysis per load song (the songs must be in the data root: prepare_songs)."""
    post = _poster(targets, timeout)
    return [
        Analysis(
            song,
            AudioAnalysisResponse.model_validate(
                post("workflow-audio", AUDIO, {"song_id": song.song_id, "song_path": song.song_path})
            ),
            LyricsAnalysisResponse.model_validate(
                post("workflow-content", CONTENT, {"song_id": song.song_id, "lyrics": song.lyrics})
            ),
        )
        for song in songs
    ]


def prediction_requests(analyses: list[Analysis]) -> list[dict]:
    """A prediction request per analysed song, with its real features."""
    return [
        PredictionRequest(
            song_id=a.song.song_id, audio_features=a.audio.features, content_features=a.content.features
        ).model_dump(mode="json", exclude_none=True)
        for a in analyses
    ]


def insights_request(targets: dict, analysis: Analysis, timeout: float = 60.0) -> dict:
    """The analysis plus a real prediction for it, assembled into an insights request."""
    [body] = prediction_requests([analysis])
    predicted = _poster(targets, timeout)("workflow-ml-prediction", PREDICTION, body)
    prediction = PredictionResponse.model_validate(predicted)
    request = InsightsRequest(
        song_id=analysis.song.song_id, audio=analysis.audio, content=analysis.content, prediction=prediction
    )
    return request.model_dump(mode="json")
