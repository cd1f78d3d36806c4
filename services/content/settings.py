"""Settings of workflow-content (environment, prefix HSS_)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings
from services.content.lyrics import MAX_LYRICS_LINES


class ContentSettings(ServiceSettings):
    max_lyrics_lines: int = Field(
        default=MAX_LYRICS_LINES,
        ge=1,
        le=100_000,
        description="Lyrics with more lines of text than this get 422 lyrics_too_long (HSS_MAX_LYRICS_LINES).",
    )
