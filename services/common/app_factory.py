"""create_app(): the frame every service shares.

/health (liveness), /ready (readiness checks of the service), /metrics (Prometheus), the error
envelope for every failure, the X-API-Key check on the service's routers, a request body limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_fastapi_instrumentator import Instrumentator

from contracts.common import HealthResponse, ReadyResponse
from contracts.errors import ErrorEnvelope
from services.common.errors import install_error_handlers
from services.common.middleware import BodySizeLimitMiddleware
from services.common.security import api_key_dependency
from services.common.settings import ServiceSettings

# Documented on every service route so the OpenAPI shows the envelope (and schemathesis checks it).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope, "description": text}
    for code, text in {
        400: "The body could not be read (e.g. not UTF-8).",
        401: "Missing or wrong X-API-Key (when the service runs with HSS_API_KEY).",
        413: "Request body too large.",
        422: "The request is well-formed JSON but not acceptable (see error.code).",
    }.items()
}

ReadyCheck = Callable[[FastAPI], dict[str, bool]]


def create_app(
    *,
    name: str,
    version: str,
    description: str,
    routers: Sequence[APIRouter],
    settings: ServiceSettings,
    ready_checks: ReadyCheck | None = None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            yield
        else:
            async with lifespan(app):
                yield

    app = FastAPI(
        title=name,
        version=version,
        description=description,
        lifespan=_lifespan,
        responses={500: {"model": ErrorEnvelope, "description": "Unexpected error (a bug)."}},
    )
    app.state.service_name = name
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)

    @app.get("/health", response_model=HealthResponse, tags=["probes"], summary="Liveness")
    async def health() -> HealthResponse:
        return HealthResponse(service=name, version=version)

    @app.get(
        "/ready",
        response_model=ReadyResponse,
        tags=["probes"],
        summary="Readiness",
        responses={503: {"model": ReadyResponse, "description": "Not ready yet."}},
    )
    async def ready() -> Any:
        checks = ready_checks(app) if ready_checks else {}
        ok = all(checks.values())
        body = ReadyResponse(
            status="ready" if ok else "not_ready",
            service=name,
            checks=checks,
            detail=None if ok else "failing: " + ", ".join(k for k, v in checks.items() if not v),
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)

    auth = Depends(api_key_dependency(settings))
    for router in routers:
        app.include_router(router, dependencies=[auth], responses=ERROR_RESPONSES)

    # One registry per app (not the global one): several apps in one process (tests, schemathesis)
    # would otherwise share or lose each other's collectors.
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    Instrumentator(excluded_handlers=["/metrics"], registry=registry).instrument(app).expose(
        app, include_in_schema=False
    )
    return app


def settings_of(request_app: FastAPI) -> ServiceSettings:
    """The settings instance the app was built with (routes reach it via request.app)."""
    return request_app.state.settings
