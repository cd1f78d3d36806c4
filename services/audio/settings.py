"""Settings of workflow-audio. Shared ones (HSS_DATA_ROOT, HSS_API_KEY, ...) come from ServiceSettings."""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class AudioSettings(ServiceSettings):
    """Environment: HSS_AUDIO_POOL_SIZE, HSS_AUDIO_MAX_QUEUE, HSS_AUDIO_TIMEOUT_S, HSS_AUDIO_MAX_FILE_BYTES,
    HSS_AUDIO_MIN_DURATION_S, HSS_AUDIO_MAX_DURATION_S, HSS_AUDIO_MAX_ANALYSES_PER_WORKER.

    In code the fields go by their names: `AudioSettings(data_root=..., pool_size=1, timeout_s=30)`.
    """

    model_config = SettingsConfigDict(env_prefix="HSS_", extra="ignore", populate_by_name=True)

    pool_size: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        validation_alias="HSS_AUDIO_POOL_SIZE",
        description="Extractor worker processes (MusicExtractor is CPU bound: one per core). Default: CPU count.",
    )
    max_queue: int = Field(
        default=8,
        ge=0,
        le=10_000,
        validation_alias="HSS_AUDIO_MAX_QUEUE",
        description=(
            "Analyses that may wait for a busy worker; one more is refused at once with 429 queue_full and a "
            "Retry-After, never queued (0: none waits). Default 8: with one worker per core and a few seconds per "
            "song, 8 waiting is already tens of seconds of backlog; beyond it a caller is better told when to come "
            "back than left holding a connection towards its timeout while the backlog grows without bound. "
            "Airflow's hss_audio pool (2 slots) stays far below it; a client that keeps more requests in flight "
            "(dataset feature extraction, max_concurrent_requests) needs it at least that high minus the workers."
        ),
    )
    max_analyses_per_worker: int = Field(
        default=100,
        ge=0,
        validation_alias="HSS_AUDIO_MAX_ANALYSES_PER_WORKER",
        description=(
            "A worker process is replaced by a fresh one after this many analyses (0: never). Essentia keeps "
            "≈0.2 MiB per analysis that nothing frees; recycling bounds a worker's growth, as Celery's "
            "max_tasks_per_child does."
        ),
    )
    timeout_s: float = Field(
        default=120.0,
        gt=0,
        validation_alias="HSS_AUDIO_TIMEOUT_S",
        description="Longest one extraction may run; then the worker is killed and the caller gets 504.",
    )
    max_file_bytes: int = Field(
        default=200 * 1024 * 1024,
        ge=1,
        validation_alias="HSS_AUDIO_MAX_FILE_BYTES",
        description="Bigger audio files are refused with 413 (file_too_large).",
    )
    min_duration_s: float = Field(
        default=1.0,
        ge=0,
        validation_alias="HSS_AUDIO_MIN_DURATION_S",
        description="Shorter audio is refused with 422 (audio_too_short): under ~1 s there is no rhythm to measure.",
    )
    max_duration_s: float = Field(
        default=1200.0,
        gt=0,
        validation_alias="HSS_AUDIO_MAX_DURATION_S",
        description=(
            "Longer audio is refused with 422 (audio_too_long), judged by the header before any decoding: "
            "hours of audio fit under HSS_AUDIO_MAX_FILE_BYTES at a low bitrate and would run into the timeout."
        ),
    )
