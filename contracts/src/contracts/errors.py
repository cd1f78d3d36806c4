"""The error envelope every service returns for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from contracts.common import Contract


class ErrorBody(Contract):
    code: str = Field(
        description="Stable machine-readable code, e.g. 'file_not_found', 'path_outside_data_root'.",
        examples=["file_not_found"],
    )
    message: str = Field(
        description="What went wrong, written for a person.",
        examples=["No file at 'songs/missing.mp3' in the data root."],
    )
    details: dict[str, Any] | list[Any] | None = Field(
        default=None, description="Structured context (offending field, limits, validation errors)."
    )


class ErrorEnvelope(Contract):
    """Body of every 4xx/5xx response."""

    error: ErrorBody
