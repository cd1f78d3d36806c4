"""The five services by name: ASGI app, port, connection id. Pure data.

The e2e harness, load tests and Airflow connection files read this instead of repeating it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # seed name, also the compose service name
    app: str  # "module:attribute" for uvicorn
    port: int  # local stack and compose
    conn_id: str  # Airflow connection id (AIRFLOW_CONN_<CONN_ID upper>)
    endpoints: tuple[str, ...]

    @property
    def env_var(self) -> str:
        return f"AIRFLOW_CONN_{self.conn_id.upper()}"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("workflow-audio", "services.audio.app:app", 8001, "workflow_audio", ("POST /analyze/comprehensive",)),
    ServiceSpec("workflow-content", "services.content.app:app", 8002, "workflow_content", ("POST /analyze/lyrics",)),
    ServiceSpec(
        "workflow-ml-training",
        "services.ml_training.app:app",
        8003,
        "workflow_ml_training",
        ("POST /train/smart_ensemble", "GET /train/jobs/{job_id}"),
    ),
    ServiceSpec(
        "workflow-ml-prediction",
        "services.ml_prediction.app:app",
        8004,
        "workflow_ml_prediction",
        ("POST /predict/single",),
    ),
    ServiceSpec(
        "workflow-intelligence",
        "services.intelligence.app:app",
        8005,
        "workflow_intelligence",
        ("POST /insights/generate",),
    ),
)


def service_by_name(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")
