"""Settings of workflow-ml-training (environment variables prefixed HSS_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.settings import ModelSigningSettings


class TrainingSettings(ModelSigningSettings):
    training_workers: int = Field(
        default=1, ge=1, le=16, description="Training jobs run at once, each in its own process (HSS_TRAINING_WORKERS)."
    )
    training_start_method: Literal["forkserver", "spawn"] = Field(
        default="forkserver",
        description="How worker processes start. Never 'fork': the service has threads (HSS_TRAINING_START_METHOD).",
    )
    training_max_queued_jobs: int = Field(
        default=4,
        ge=1,
        le=1000,
        description=(
            "Trainings queued or running at once; one more new training is refused with 429 too_many_jobs and a "
            "Retry-After, nothing queued (HSS_TRAINING_MAX_QUEUED_JOBS). Each queued job holds its dataset path "
            "only, but each runs minutes of CPU: a small cap keeps a burst of requests from queueing hours of work."
        ),
    )
    training_max_dataset_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1,
        description=(
            "Larger datasets are refused with 413 dataset_too_large, by their size, before anything is read "
            "(HSS_TRAINING_MAX_DATASET_BYTES; default 50 MiB). The worker reads the whole file into memory and "
            "pandas needs several times its size."
        ),
    )
    training_max_dataset_rows: int = Field(
        default=200_000,
        ge=1,
        description=(
            "Datasets with more data rows are refused with 413 dataset_too_large; rows are CSV records counted "
            "while streaming the file (HSS_TRAINING_MAX_DATASET_ROWS). Cross-validating five models, an SVM "
            "among them, grows faster than linearly with the rows."
        ),
    )
