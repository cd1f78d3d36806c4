"""Contract validation of both ends of a service call, with the `contracts` models (`Endpoint.request`,
`Endpoint.response`), and the services' error envelope as a one-line message. A violation is ServiceRejected,
naming the offending fields."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.errors import ErrorEnvelope
from hss_airflow.hooks.errors import ServiceRejected, ServiceUnavailable


def describe_validation_error(exc: ValidationError, limit: int = 8) -> str:
    """'features: Field required; highlights.key: Input should be a valid string' (first `limit` errors)."""
    errors = exc.errors()
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '<body>'}: {err['msg']}" for err in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"... and {len(errors) - limit} more")
    return "; ".join(parts)


def parse_model(model: type[BaseModel], data: Any, what: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServiceRejected(f"{what} is not a valid {model.__name__}: {describe_validation_error(exc)}") from None


def validate_request(model: type[BaseModel], payload: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The payload as JSON-able dict, or ServiceRejected (nothing is sent) naming the bad fields."""
    try:
        return model.model_validate(dict(payload)).model_dump(mode="json")
    except ValidationError as exc:
        raise ServiceRejected(
            f"{what}: refusing to send an invalid {model.__name__}: {describe_validation_error(exc)}"
        ) from None


def validate_response(model: type[BaseModel], text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ServiceRejected(f"{what}: the response is not JSON: {text[:200]!r}") from None
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        raise ServiceRejected(
            f"{what}: the response violates the {model.__name__} contract: {describe_validation_error(exc)}"
        ) from None


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def error_summary(status: int, text: str) -> str:
    """'HTTP 404 file_not_found: No file at ... (details: {...})' from the error envelope, or the raw body."""
    try:
        error = ErrorEnvelope.model_validate_json(text).error
    except ValidationError:
        body = " ".join(text.split())[:300]
        return f"HTTP {status}: {body or '(empty body)'}"
    summary = f"HTTP {status} {error.code}: {error.message}"
    if error.details:
        summary += f" (details: {json.dumps(error.details, default=str)[:300]})"
    return summary


def interpret_response(status: int, text: str, response_model: type[BaseModel], what: str) -> dict[str, Any]:
    """2xx: the validated response; 5xx/429: ServiceUnavailable; any other status: ServiceRejected."""
    if 200 <= status < 300:
        return validate_response(response_model, text, what)
    summary = error_summary(status, text)
    if is_retryable_status(status):
        raise ServiceUnavailable(f"{what}: {summary}")
    raise ServiceRejected(f"{what} was refused: {summary}")
