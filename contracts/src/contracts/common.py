"""Field types and probe responses shared by every contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationInfo, field_validator

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


class StrictContract(Contract):
    """Base for what a client sends: every request body, and every document a request body carries.

    No coercion: `true` is not a number, `"0.5"` is not a number, `5` is not a string, `1` is not a
    boolean, `2.5` is not an integer; such a request is refused with 422 `validation_error`. FastAPI
    validates a body with `validate_python` on the decoded JSON, so this is pydantic's strict *Python*
    mode. What JSON legitimately carries still passes: an integer where a number is expected (JSON has
    one number type), a number without a fraction where an integer is expected (`5.0`: JSON Schema's
    integer), a string for a `Literal`. Strict Python mode takes a datetime or an Enum only as an
    instance, so a field of such a type on a strict model must be declared with `FROM_JSON_STRING`
    (`IsoDatetime` is the ready-made datetime); it then accepts the ISO string or the enum's value.

    A model nested in a request body must derive from this class too (its own config decides how its
    fields validate); contracts/tests/test_strict_contracts.py checks every request of the catalog.
    """

    model_config = ConfigDict(strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _integral_number_as_integer(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, float) and value.is_integer() and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if annotation is int or int in get_args(annotation):
                return int(value)
        return value


# For a field of a StrictContract whose JSON form is a string pydantic converts (datetime, date, UUID, an
# Enum): strict Python validation would accept only the instance.
FROM_JSON_STRING = Strict(False)
IsoDatetime = Annotated[datetime, FROM_JSON_STRING]


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
