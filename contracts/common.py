"""Field types and probe responses shared by every contract."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Identifiers end up in file names (results/<song_id>/, models/<training_id>/): keep them safe.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"

SongId = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        description="Song identifier: letters, digits, '_', '.', '-' (max 128, starts alphanumeric).",
        examples=["example_song_123"],
    ),
]

DataPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        description=(
            "Path relative to the data root (HSS_DATA_ROOT), e.g. 'songs/x.mp3'. An absolute path is "
            "accepted only when it lies inside the data root."
        ),
    ),
]

# Flat map of descriptor name -> finite number. JSON has no NaN/inf, so neither do we.
FeatureMap = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[float, Field(allow_inf_nan=False)]],
    Field(description="Flat map of feature name to a finite number."),
]

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Contract(BaseModel):
    """Base for every contract: unknown fields are an error, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HealthResponse(Contract):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"
    service: str = Field(description="Service name, e.g. 'workflow-audio'.")
    version: str = Field(description="Service version.")


class ReadyResponse(Contract):
    """Readiness: the service can do real work now (pool warmed, model loaded, ...)."""

    status: Literal["ready", "not_ready"]
    service: str
    checks: dict[str, bool] = Field(default_factory=dict, description="Each readiness check and its result.")
    detail: str | None = Field(default=None, description="Why the service is not ready, when it is not.")
