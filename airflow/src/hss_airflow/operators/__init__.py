"""The HSS operators: one per service call (service.py), batch_analysis's chunk of songs (audio_chunk.py), the
deferrable training operator (training.py) and promote_model's approval operator (promotion.py). Each calls
the services through hss_airflow.hooks."""

from hss_airflow.operators.audio_chunk import AudioChunkOperator
from hss_airflow.operators.promotion import PromoteModelOperator
from hss_airflow.operators.service import (
    AudioAnalysisOperator,
    ContentAnalysisOperator,
    IntelligenceOperator,
    MLPredictionOperator,
    WorkflowServiceOperator,
)
from hss_airflow.operators.training import MLTrainingOperator

__all__ = [
    "AudioAnalysisOperator",
    "AudioChunkOperator",
    "ContentAnalysisOperator",
    "IntelligenceOperator",
    "MLPredictionOperator",
    "MLTrainingOperator",
    "PromoteModelOperator",
    "WorkflowServiceOperator",
]
