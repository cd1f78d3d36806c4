"""workflow-audio: POST /analyze/comprehensive (Essentia MusicExtractor)."""

from __future__ import annotations

from pydantic import Field

from contracts.common import DataPath, FeatureMap, SongId, StrictContract

MIN_AUDIO_FEATURES = 150
# The audio files workflow-audio decodes, by extension (lower case): batch_analysis lists only these.
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg")


class AudioAnalysisRequest(StrictContract):
    song_id: SongId
    song_path: DataPath = Field(examples=["songs/demo_song.mp3"])

    model_config = StrictContract.model_config | {
        "json_schema_extra": {"examples": [{"song_id": "demo_song", "song_path": "songs/demo_song.mp3"}]}
    }


class AudioHighlights(StrictContract):
    """The handful of descriptors people read first."""

    tempo_bpm: float = Field(ge=0, allow_inf_nan=False, description="Estimated tempo (rhythm.bpm).")
    key: str = Field(description="Estimated key tonic, e.g. 'C' (tonal.key_edma.key).", examples=["C"])
    scale: str = Field(description="'major' or 'minor' (tonal.key_edma.scale).", examples=["major"])
    key_strength: float = Field(ge=0, le=1, allow_inf_nan=False, description="Confidence of the key estimate.")
    duration_s: float = Field(ge=0, allow_inf_nan=False, description="Length of the decoded audio in seconds.")
    loudness: float = Field(
        allow_inf_nan=False, description="Integrated loudness in LUFS (lowlevel.loudness_ebu128.integrated)."
    )
    danceability: float = Field(ge=0, allow_inf_nan=False, description="Essentia danceability (0 to ~3).")


# Strict like a request: workflow-intelligence receives it inside its request (InsightsRequest.audio).
class AudioAnalysisResponse(StrictContract):
    song_id: SongId
    features: FeatureMap = Field(
        description=(
            f"At least {MIN_AUDIO_FEATURES} numeric Essentia descriptors, flattened: scalar descriptors by "
            "their Essentia name (e.g. 'rhythm.bpm'), fixed-size vectors as 'name.<index>' (e.g. "
            "'lowlevel.mfcc.mean.0'). The key set is the same for every song; a non-finite value is reported as 0.0."
        )
    )
    highlights: AudioHighlights
    feature_count: int = Field(ge=0, description="Number of entries in `features`.")
    extractor: str = Field(description="Extractor and version that produced the features.")
    analysis_seconds: float = Field(ge=0, description="Time spent in the extractor for this request.")
