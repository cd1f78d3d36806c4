"""workflow-content routes: POST /analyze/lyrics. Logic lives in services.content.lyrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request

from contracts.content import MAX_LYRICS_CHARS, LyricsAnalysisRequest, LyricsAnalysisResponse
from contracts.errors import ErrorEnvelope
from services.common.app_factory import create_app, settings_of
from services.content import lyrics
from services.content.settings import ContentSettings

SERVICE_NAME = "workflow-content"
VERSION = "0.1.0"

router = APIRouter(tags=["content"])


@router.post(
    "/analyze/lyrics",
    response_model=LyricsAnalysisResponse,
    summary="Analyze lyrics",
    description=(
        "Sentiment (VADER, lexicon shipped with the package), lexical richness (type-token ratio, MTLD, "
        "MATTR), repetition and hook strength, structure (lines, sections, words per line), Flesch "
        "readability, rhyme density and pronoun shares. Every feature is prefixed `lyrics.` and the key "
        "set is the same for every input. Empty or whitespace-only lyrics give the instrumental result. "
        f"At most {MAX_LYRICS_CHARS} characters (422 `validation_error`) and a configurable number of "
        "lines (422 `lyrics_too_long`)."
    ),
    responses={
        422: {
            "model": ErrorEnvelope,
            "description": "`validation_error` (wrong types, bad song_id, lyrics over the character cap) or "
            "`lyrics_too_long` (too many lines).",
        },
    },
)
def analyze_lyrics(body: LyricsAnalysisRequest, request: Request) -> LyricsAnalysisResponse:
    # A plain `def`: FastAPI runs it in the thread pool, so the CPU work never blocks the event loop.
    settings: ContentSettings = settings_of(request.app)
    return lyrics.analyze_lyrics(body.song_id, body.lyrics, max_lines=settings.max_lyrics_lines)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    lyrics.analyzer()  # load the VADER lexicon once, before the first request
    yield


def _ready(_: FastAPI) -> dict[str, bool]:
    return {"vader_lexicon_loaded": lyrics.analyzer.cache_info().currsize == 1}


def build_app(settings: ContentSettings | None = None) -> FastAPI:
    return create_app(
        name=SERVICE_NAME,
        version=VERSION,
        description="Lyrics analysis for hit-song science: sentiment and lexical features, offline.",
        routers=[router],
        settings=settings or ContentSettings(),
        ready_checks=_ready,
        lifespan=_lifespan,
    )


app = build_app()
