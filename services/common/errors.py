"""ServiceError and the handlers that turn every failure into the error envelope."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.errors import ErrorBody, ErrorEnvelope

log = logging.getLogger("hss.services")


class ServiceError(Exception):
    """A failure with an HTTP status, a stable code and a message a person understands."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.details = details
        self.headers = headers


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class Unprocessable(ServiceError):
    status_code = 422
    code = "unprocessable"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class TooManyRequests(ServiceError):
    """429 with a Retry-After header (whole seconds, at least 1): the caller retries later, nothing was queued."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_s: float, code: str | None = None, details: Any = None) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(message, code=code, details=details, headers={"Retry-After": str(self.retry_after_s)})


class Timeout(ServiceError):
    status_code = 504
    code = "timeout"


class Unavailable(ServiceError):
    status_code = 503
    code = "unavailable"


def error_response(
    status_code: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=jsonable_encoder(details)))
    return JSONResponse(status_code=status_code, content=body.model_dump(mode="json"), headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Keep what helps a caller fix the request; drop echoed input (it may be huge) and ctx objects.
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.details, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
        message = f"Invalid request: {where}: {first['msg']}"
        if len(details) > 1:
            message += f" (and {len(details) - 1} more problem(s))"
        return error_response(422, "validation_error", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal_error", "Internal error; see the service log.", {"type": type(exc).__name__}
        )
