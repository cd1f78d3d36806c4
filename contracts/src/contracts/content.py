"""workflow-content: POST /analyze/lyrics (lexicon-based NLP, no network)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.common import FeatureMap, SongId, StrictContract

MAX_LYRICS_CHARS = 20_000


class LyricsAnalysisRequest(StrictContract):
    song_id: SongId
    lyrics: str = Field(
        default="",
        max_length=MAX_LYRICS_CHARS,
        description=(
            "Full lyrics, one line per line; blank lines separate sections. Empty means instrumental "
            f"(not an error). At most {MAX_LYRICS_CHARS} characters."
        ),
        examples=["I'm on fire tonight\nI'm on fire tonight\n\nWe run through the city lights"],
    )


class Sentiment(StrictContract):
    """VADER sentiment over the whole lyric."""

    compound: float = Field(ge=-1, le=1, allow_inf_nan=False, description="Overall polarity, -1..1.")
    positive: float = Field(ge=0, le=1, allow_inf_nan=False)
    negative: float = Field(ge=0, le=1, allow_inf_nan=False)
    neutral: float = Field(ge=0, le=1, allow_inf_nan=False)
    label: Literal["positive", "negative", "neutral"] = Field(
        description="positive when compound >= 0.05, negative when <= -0.05, else neutral."
    )


# Strict like a request: workflow-intelligence receives it inside its request (InsightsRequest.content).
class LyricsAnalysisResponse(StrictContract):
    song_id: SongId
    instrumental: bool = Field(description="True when no lyrics were given: features then describe silence.")
    features: FeatureMap = Field(
        description="Numeric lyric features, all prefixed 'lyrics.' (e.g. 'lyrics.hook_strength')."
    )
    sentiment: Sentiment
    analysis_seconds: float = Field(ge=0)
