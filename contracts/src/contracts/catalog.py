"""The five services by name: ASGI app, port, Airflow connection id, and each endpoint with its models.

The one place these facts are spelled. Services route on `Endpoint.path`, operators and the feature client
call it over the connection `conn_id`, the e2e harness starts `app` on `port`, the load tests name their
requests `str(endpoint)`, and the compose check compares docker-compose.yml with it.
contracts/tests/test_catalog.py fails when a connection id or an endpoint path is spelled anywhere else.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from pydantic import BaseModel

from contracts.audio import AudioAnalysisRequest, AudioAnalysisResponse
from contracts.content import LyricsAnalysisRequest, LyricsAnalysisResponse
from contracts.insights import InsightsRequest, InsightsResponse
from contracts.prediction import PredictionRequest, PredictionResponse
from contracts.training import PromotionRequest, ServingModel, TrainingAccepted, TrainingJob, TrainingRequest


@dataclass(frozen=True)
class Endpoint:
    """One route: `path` may hold `{name}` placeholders (`format_path` fills them)."""

    method: str
    path: str
    request: type[BaseModel] | None  # the JSON body, None for a GET
    response: type[BaseModel]  # the body of `status`
    status: int = 200

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def format_path(self, **values: str) -> str:
        """The path with its placeholders filled: `TRAINING_JOB.format_path(job_id="j-1")`."""
        wanted = {name for _, name, _, _ in string.Formatter().parse(self.path) if name}
        if wanted != set(values):
            raise ValueError(f"{self} needs {sorted(wanted)}, got {sorted(values)}")
        return self.path.format(**values)


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # seed name, also the compose service name
    app: str  # "module:attribute" for uvicorn
    port: int  # local stack and compose
    conn_id: str  # Airflow connection id (AIRFLOW_CONN_<CONN_ID upper>)
    endpoints: tuple[Endpoint, ...]  # beyond /health, /ready and /metrics, which every service has

    @property
    def env_var(self) -> str:
        return f"AIRFLOW_CONN_{self.conn_id.upper()}"


AUDIO_ANALYZE = Endpoint("POST", "/analyze/comprehensive", AudioAnalysisRequest, AudioAnalysisResponse)
LYRICS_ANALYZE = Endpoint("POST", "/analyze/lyrics", LyricsAnalysisRequest, LyricsAnalysisResponse)
TRAINING_START = Endpoint("POST", "/train/smart_ensemble", TrainingRequest, TrainingAccepted, status=202)
TRAINING_JOB = Endpoint("GET", "/train/jobs/{job_id}", None, TrainingJob)
MODEL_PROMOTE = Endpoint("POST", "/models/promote", PromotionRequest, ServingModel)
MODEL_CURRENT = Endpoint("GET", "/models/current", None, ServingModel)
PREDICT_SINGLE = Endpoint("POST", "/predict/single", PredictionRequest, PredictionResponse)
INSIGHTS_GENERATE = Endpoint("POST", "/insights/generate", InsightsRequest, InsightsResponse)

AUDIO = ServiceSpec("workflow-audio", "services.audio.app:app", 8001, "workflow_audio", (AUDIO_ANALYZE,))
CONTENT = ServiceSpec("workflow-content", "services.content.app:app", 8002, "workflow_content", (LYRICS_ANALYZE,))
TRAINING = ServiceSpec(
    "workflow-ml-training",
    "services.ml_training.app:app",
    8003,
    "workflow_ml_training",
    (TRAINING_START, TRAINING_JOB, MODEL_PROMOTE, MODEL_CURRENT),
)
PREDICTION = ServiceSpec(
    "workflow-ml-prediction", "services.ml_prediction.app:app", 8004, "workflow_ml_prediction", (PREDICT_SINGLE,)
)
INTELLIGENCE = ServiceSpec(
    "workflow-intelligence", "services.intelligence.app:app", 8005, "workflow_intelligence", (INSIGHTS_GENERATE,)
)

SERVICES: tuple[ServiceSpec, ...] = (AUDIO, CONTENT, TRAINING, PREDICTION, INTELLIGENCE)

# Celery queues: the tasks that send Essentia work to workflow-audio go to AUDIO_QUEUE. Every worker of the stack
# consumes WORKER_QUEUES; a worker host (docker-compose.worker-host.yml) consumes AUDIO_QUEUE alone and sends its
# songs to its own workflow-audio replica.
DEFAULT_QUEUE, AUDIO_QUEUE = "default", "audio"
WORKER_QUEUES = f"{DEFAULT_QUEUE},{AUDIO_QUEUE}"


def service_by_name(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")
