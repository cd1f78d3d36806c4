"""workflow-intelligence: POST /insights/generate (rule-based)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.audio import AudioAnalysisResponse
from contracts.common import Contract, SongId, StrictContract
from contracts.content import LyricsAnalysisResponse
from contracts.prediction import PredictionResponse


class InsightsRequest(StrictContract):
    song_id: SongId
    audio: AudioAnalysisResponse = Field(description="Response of workflow-audio for this song.")
    content: LyricsAnalysisResponse = Field(description="Response of workflow-content for this song.")
    prediction: PredictionResponse = Field(description="Response of workflow-ml-prediction for this song.")


class Recommendation(Contract):
    area: Literal["tempo", "key", "loudness", "danceability", "lyrics", "hook", "structure", "overall"]
    priority: Literal["high", "medium", "low"]
    message: str = Field(description="A concrete action quoting the song's own values.")


class InsightsResponse(Contract):
    song_id: SongId
    summary: str = Field(description="Two or three sentences quoting the song's actual values.")
    strengths: list[str] = Field(default_factory=list)
    recommendations: list[Recommendation]
    hit_probability: float = Field(ge=0, le=1, allow_inf_nan=False)
    model_version: str
