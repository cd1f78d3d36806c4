"""workflow-intelligence routes: POST /insights/generate. Logic lives in services.intelligence.rules."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from contracts.catalog import INSIGHTS_GENERATE
from contracts.insights import InsightsRequest, InsightsResponse
from services.common.app_factory import create_app, error_responses, lazy_app
from services.common.settings import ServiceSettings
from services.intelligence import rules

SERVICE_NAME = "workflow-intelligence"
VERSION = "0.1.0"

router = APIRouter(tags=["insights"])


@router.post(
    INSIGHTS_GENERATE.path,
    response_model=INSIGHTS_GENERATE.response,
    summary="Generate insights",
    description=(
        "Rule-based insights from the full responses of workflow-audio, workflow-content and "
        "workflow-ml-prediction for one song: a summary and recommendations (area, priority, ordered high to "
        "low) that quote the song's own values (tempo, key, loudness vs the -14 LUFS streaming target, "
        "danceability, lyric sentiment and hook strength, hit probability and model version). Deterministic."
    ),
    responses=error_responses(
        {
            422: "`validation_error` (malformed or missing nested responses, wrong types: nothing is coerced) or "
            "`song_id_mismatch` (audio/content/prediction belong to another song)."
        }
    ),
)
async def generate_insights(body: InsightsRequest) -> InsightsResponse:
    # Inline on the event loop: the rules are well under a millisecond of CPU and no I/O; the thread pool
    # only added GIL hand-offs between threads under load (see services/content/app.py).
    return rules.generate_insights(body)


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(
        name=SERVICE_NAME,
        version=VERSION,
        description="Rule-based, explainable insights for hit-song science.",
        routers=[router],
        settings=settings or ServiceSettings(),
    )


# `app` (uvicorn's services.intelligence.app:app) is built on first access: a start without HSS_API_KEY fails there.
__getattr__ = lazy_app(build_app)
