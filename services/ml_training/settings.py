"""Settings of workflow-ml-training (environment variables prefixed HSS_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.settings import ServiceSettings


class TrainingSettings(ServiceSettings):
    training_workers: int = Field(
        default=1, ge=1, le=16, description="Training jobs run at once, each in its own process (HSS_TRAINING_WORKERS)."
    )
    training_start_method: Literal["forkserver", "spawn"] = Field(
        default="forkserver",
        description="How worker processes start. Never 'fork': the service has threads (HSS_TRAINING_START_METHOD).",
    )
