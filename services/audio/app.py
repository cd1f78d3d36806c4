"""workflow-audio (ASGI app `services.audio.app:app`): routes only; the logic is in services.audio.extractor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request

from contracts.audio import AUDIO_FORMATS, MIN_AUDIO_FEATURES, AudioAnalysisRequest, AudioAnalysisResponse
from contracts.catalog import AUDIO_ANALYZE
from services.audio import __version__
from services.audio.extractor import analyze_request
from services.audio.metrics import PoolMetrics
from services.audio.pool import ExtractorPool
from services.audio.settings import AudioSettings
from services.common.app_factory import create_app, error_responses, lazy_app, settings_of

DESCRIPTION = f"""Runs Essentia's MusicExtractor on one audio file of the data root ({", ".join(AUDIO_FORMATS)}).

Returns at least {MIN_AUDIO_FEATURES} numeric descriptors as a flat map whose key set is the same for every
song (scalar descriptors by their Essentia name, fixed-size vectors as `name.<index>`) and the
highlights (tempo, key, duration, loudness, danceability). Extraction runs in a pool of worker
processes; requests beyond the pool size wait for a free worker, at most HSS_AUDIO_MAX_QUEUE of them: one more
is refused at once with 429 `queue_full` and a `Retry-After` header. A waiting request whose client
disconnects is dropped before its analysis starts."""


ANALYZE_ERRORS = error_responses(
    {
        403: (
            "`path_outside_data_root`: the path leaves the data root ('..', absolute elsewhere, a symlink or a "
            "symlinked folder pointing out); `file_unreadable`: the file exists but this service may not open it "
            "(permissions; a service running as root reads every file)."
        ),
        404: "`file_not_found`: no file at that path in the data root (also a dangling symlink).",
        409: (
            "`file_changed`: the file was replaced, truncated or rewritten between its checks and the end of the "
            "worker's private copy of it; retry once it is no longer being written. A change after the copy does "
            "not matter: the answer is the analysis of the file as it was copied."
        ),
        413: (
            "`file_too_large`: the audio file exceeds HSS_AUDIO_MAX_FILE_BYTES; `payload_too_large`: the request "
            "body exceeds HSS_MAX_BODY_BYTES."
        ),
        422: (
            "The file cannot be analysed: `unsupported_format` (extension), `empty_file`, `not_audio`, "
            "`corrupt_audio` (damaged or truncated, or a header that declares more audio than the file holds), "
            "`silent_audio`, `audio_too_short` (under HSS_AUDIO_MIN_DURATION_S), `audio_too_long` (over "
            "HSS_AUDIO_MAX_DURATION_S by its header, refused before decoding), `not_a_file` (a directory, a FIFO, "
            "a device), `invalid_path` (empty, a NUL byte, a name the filesystem refuses, a read error); or "
            "`validation_error` for a malformed request."
        ),
        429: (
            "`queue_full`: HSS_AUDIO_MAX_QUEUE analyses already wait for a busy worker; nothing was queued. Retry "
            "after the `Retry-After` header's seconds (estimated from recent analysis times)."
        ),
        503: (
            "`worker_crashed` (the worker died and was restarted: retry) or `extractor_unavailable` (the pool is "
            "not running, or a worker cannot write its private copy of the file, e.g. a full temp folder)."
        ),
        504: "`analysis_timeout`: extraction took longer than HSS_AUDIO_TIMEOUT_S and was stopped.",
    }
)


def _ready_checks(app: FastAPI) -> dict[str, bool]:
    pool: ExtractorPool | None = getattr(app.state, "extractor_pool", None)
    return pool.ready_checks() if pool else {"extractor_pool_started": False}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AudioSettings = settings_of(app)  # type: ignore[assignment]
    pool = ExtractorPool(
        settings.pool_size,
        max_analyses=settings.max_analyses_per_worker,
        max_queue=settings.max_queue,
        metrics=app.state.pool_metrics,
    )
    pool.start()  # spawns the workers; they import Essentia and warm up in the background
    app.state.extractor_pool = pool
    try:
        yield
    finally:
        app.state.extractor_pool = None
        await pool.close()


router = APIRouter(tags=["audio"])


@router.post(
    AUDIO_ANALYZE.path,
    response_model=AUDIO_ANALYZE.response,
    summary="Analyse one song with Essentia MusicExtractor",
    description=DESCRIPTION,
    responses=ANALYZE_ERRORS,
)
async def analyze_comprehensive(body: AudioAnalysisRequest, request: Request) -> AudioAnalysisResponse:
    return await analyze_request(
        body,
        pool=getattr(request.app.state, "extractor_pool", None),
        settings=settings_of(request.app),
        client_gone=request.is_disconnected,
    )


def build_app(settings: AudioSettings | None = None) -> FastAPI:
    app = create_app(
        name="workflow-audio",
        version=__version__,
        description="Audio analysis with Essentia MusicExtractor (real descriptors of real audio).",
        routers=[router],
        settings=settings or AudioSettings(),
        ready_checks=_ready_checks,
        lifespan=_lifespan,
    )
    app.state.pool_metrics = PoolMetrics(app.state.metrics_registry)  # hss_audio_* at /metrics
    return app


# `app` (uvicorn's services.audio.app:app) is built on first access: a start without HSS_API_KEY fails there.
__getattr__ = lazy_app(build_app)
