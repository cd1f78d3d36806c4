"""Settings of workflow-ml-prediction (environment variables prefixed HSS_)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ModelSigningSettings


class PredictionSettings(ModelSigningSettings):
    explanations_top_k: int = Field(default=10, ge=1, le=100, description="Explanations returned per prediction.")
    max_missing_fraction: float = Field(
        default=0.5, ge=0.0, le=1.0, description="More missing model features than this share -> 422."
    )
    model_cache_size: int = Field(default=4, ge=1, le=64, description="Loaded model artifacts kept in memory.")
