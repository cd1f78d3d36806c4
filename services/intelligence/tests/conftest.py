"""Build realistic InsightsRequest objects from the contract models (no other service involved)."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.audio import MIN_AUDIO_FEATURES, AudioAnalysisResponse, AudioHighlights
from contracts.content import LyricsAnalysisResponse, Sentiment
from contracts.insights import InsightsRequest
from contracts.prediction import Explanation, PredictionResponse


def audio_response(
    song_id: str,
    *,
    tempo: float = 118.4,
    key: str = "C",
    scale: str = "major",
    key_strength: float = 0.82,
    loudness: float = -9.6,
    danceability: float = 1.34,
    duration: float = 201.0,
) -> AudioAnalysisResponse:
    features: dict[str, float] = {
        "rhythm.bpm": tempo,
        "lowlevel.loudness_ebu128.integrated": loudness,
        "rhythm.danceability": danceability,
        "tonal.key_edma.strength": key_strength,
        "metadata.audio_properties.length": duration,
    }
    for i in range(40):  # fixed-size vectors flattened as name.<index>, like the audio service
        features[f"lowlevel.mfcc.mean.{i % 13}.{i // 13}"] = round(-20.0 + i * 1.5, 3)
        features[f"tonal.hpcp.mean.{i}"] = round((i % 12) / 12, 3)
        features[f"lowlevel.spectral_contrast_coeffs.mean.{i}"] = round(-0.5 + i / 100, 3)
        features[f"lowlevel.barkbands.mean.{i}"] = round(0.001 * (i + 1), 4)
    assert len(features) >= MIN_AUDIO_FEATURES
    return AudioAnalysisResponse(
        song_id=song_id,
        features=features,
        highlights=AudioHighlights(
            tempo_bpm=tempo,
            key=key,
            scale=scale,
            key_strength=key_strength,
            duration_s=duration,
            loudness=loudness,
            danceability=danceability,
        ),
        feature_count=len(features),
        extractor="essentia-2.1b6.dev1389 MusicExtractor",
        analysis_seconds=6.4,
    )


def content_response(
    song_id: str, *, instrumental: bool = False, compound: float = 0.43, hook: float = 0.67, flesch: float = 86.6
) -> LyricsAnalysisResponse:
    if instrumental:
        compound, hook, flesch = 0.0, 0.0, 0.0
    label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
    positive, negative = max(compound, 0) * 0.6, max(-compound, 0) * 0.6
    features = {
        "lyrics.instrumental": float(instrumental),
        "lyrics.word_count": 0.0 if instrumental else 139.0,
        "lyrics.line_count": 0.0 if instrumental else 22.0,
        "lyrics.section_count": 0.0 if instrumental else 6.0,
        "lyrics.unique_word_ratio": 0.0 if instrumental else 0.47,
        "lyrics.hook_strength": hook,
        "lyrics.repeated_line_ratio": 0.0 if instrumental else round(hook * 0.8, 3),
        "lyrics.sentiment_compound": compound,
        "lyrics.sentiment_positive": positive,
        "lyrics.sentiment_negative": negative,
        "lyrics.readability_flesch": flesch,
    }
    sentiment = Sentiment(
        compound=compound, positive=positive, negative=negative, neutral=1 - positive - negative, label=label
    )
    return LyricsAnalysisResponse(
        song_id=song_id, instrumental=instrumental, features=features, sentiment=sentiment, analysis_seconds=0.003
    )


def prediction_response(
    song_id: str, *, probability: float = 0.62, model_version: str = "smart_ensemble_20250101", baseline: bool = False
) -> PredictionResponse:
    return PredictionResponse(
        song_id=song_id,
        hit_probability=probability,
        model_version=model_version,
        baseline=baseline,
        explanations=[
            Explanation(feature="lyrics.hook_strength", value=0.67, contribution=0.081),
            Explanation(feature="lowlevel.loudness_ebu128.integrated", value=-9.6, contribution=-0.043),
            Explanation(feature="rhythm.bpm", value=118.4, contribution=0.022),
            Explanation(feature="rhythm.danceability", value=1.34, contribution=-0.011),
        ],
    )


def make_request(song_id: str = "demo_song", **overrides: Any) -> InsightsRequest:
    """overrides: audio_*, content_*, prediction_* keyword arguments of the builders above."""
    parts: dict[str, dict[str, Any]] = {"audio": {}, "content": {}, "prediction": {}}
    for name, value in overrides.items():
        part, _, arg = name.partition("_")
        parts[part][arg] = value
    return InsightsRequest(
        song_id=song_id,
        audio=audio_response(song_id, **parts["audio"]),
        content=content_response(song_id, **parts["content"]),
        prediction=prediction_response(song_id, **parts["prediction"]),
    )


@pytest.fixture
def request_factory():
    return make_request
