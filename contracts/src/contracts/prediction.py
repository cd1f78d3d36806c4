"""workflow-ml-prediction: POST /predict/single."""

from __future__ import annotations

from pydantic import Field

from contracts.common import FeatureMap, Probability, SongId, StrictContract

# The built-in model that answers before any model is promoted (workflow-ml-prediction serves it,
# workflow-ml-training reports it as the serving model).
BASELINE_VERSION = "baseline-v1"


class PredictionRequest(StrictContract):
    song_id: SongId
    audio_features: FeatureMap = Field(description="`features` of the audio analysis.")
    content_features: FeatureMap = Field(
        default_factory=dict, description="`features` of the lyrics analysis (empty for unknown lyrics)."
    )
    model_version: str | None = Field(
        default=None,
        max_length=200,
        description=(
            "Pin a model that is or was promoted (POST /models/promote), or the baseline. Default: the model "
            "promoted last (models/latest.json)."
        ),
    )


class Explanation(StrictContract):
    feature: str
    value: float | None = Field(default=None, allow_inf_nan=False, description="The song's value (None if imputed).")
    contribution: float = Field(
        allow_inf_nan=False,
        description="Change in hit probability caused by this feature's value versus the training median.",
    )


# Strict like a request: workflow-intelligence receives it inside its request (InsightsRequest.prediction).
class PredictionResponse(StrictContract):
    song_id: SongId
    hit_probability: Probability
    model_version: str = Field(description="Model used; 'baseline-...' when no trained model exists yet.")
    baseline: bool = Field(description="True when the built-in baseline model answered (nothing trained yet).")
    explanations: list[Explanation] = Field(description="Largest contributions first.")
    missing_features: list[str] = Field(
        default_factory=list,
        description="Features the model needs that the request lacked; imputed with the training median.",
    )
