"""Contracts: the pydantic v2 models every service and operator shares (single source of truth).

Imports nothing of ours. Services declare these as FastAPI request/response models; Airflow
operators validate what they send and receive with the same classes.
"""

from contracts.audio import AudioAnalysisRequest, AudioAnalysisResponse, AudioHighlights
from contracts.catalog import SERVICES, ServiceSpec, service_by_name
from contracts.common import HealthResponse, ReadyResponse
from contracts.content import LyricsAnalysisRequest, LyricsAnalysisResponse, Sentiment
from contracts.errors import ErrorBody, ErrorEnvelope
from contracts.insights import InsightsRequest, InsightsResponse, Recommendation
from contracts.prediction import Explanation, PredictionRequest, PredictionResponse
from contracts.training import (
    JobStatus,
    ModelMetrics,
    TrainingAccepted,
    TrainingJob,
    TrainingMetrics,
    TrainingRequest,
)

__all__ = [
    "SERVICES",
    "AudioAnalysisRequest",
    "AudioAnalysisResponse",
    "AudioHighlights",
    "ErrorBody",
    "ErrorEnvelope",
    "Explanation",
    "HealthResponse",
    "InsightsRequest",
    "InsightsResponse",
    "JobStatus",
    "LyricsAnalysisRequest",
    "LyricsAnalysisResponse",
    "ModelMetrics",
    "PredictionRequest",
    "PredictionResponse",
    "ReadyResponse",
    "Recommendation",
    "Sentiment",
    "ServiceSpec",
    "TrainingAccepted",
    "TrainingJob",
    "TrainingMetrics",
    "TrainingRequest",
    "service_by_name",
]
