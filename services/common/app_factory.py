"""create_app(): the frame every service shares.

/health (liveness), /ready (readiness checks of the service), /metrics (Prometheus), the error
envelope for every failure, the X-API-Key check on the service's routers, a request body limit.
create_app() refuses to build a service without an API key (services.common.security); lazy_app() makes a
module's `app` (what uvicorn starts) built on first use, so importing a service module needs no secret.
"""

from __future__ import annotations

import string
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_fastapi_instrumentator import Instrumentator

from contracts.catalog import Endpoint
from contracts.common import HealthResponse, ReadyResponse
from contracts.errors import ErrorEnvelope
from services.common.errors import install_error_handlers
from services.common.middleware import BodySizeLimitMiddleware
from services.common.security import api_key_dependency, required_api_key
from services.common.settings import ServiceSettings


def error_responses(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route's failures: each status answers the error envelope.

    Each description names in backticks every `error.code` the route answers with that status (e.g.
    "`file_not_found`: ..."); the fuzz test (services/tests/test_fuzz_schemathesis.py) fails on an answer
    whose code its status does not name. A route's own entry replaces the shared one of the same status, so
    a route that documents 422 names `validation_error` again."""
    return {status: {"model": ErrorEnvelope, "description": text} for status, text in descriptions.items()}


# Documented on every service route so the OpenAPI shows the envelope (and schemathesis checks it).
ERROR_RESPONSES = error_responses(
    {
        400: "`bad_request`: the body could not be read.",
        401: "`unauthorized`: missing or wrong X-API-Key (the service's HSS_API_KEY).",
        413: "`payload_too_large`: the request body exceeds HSS_MAX_BODY_BYTES.",
        422: "`validation_error`: the request does not match the schema (a wrong type, a missing or unknown field, "
        'a bad identifier); nothing is coerced, e.g. `true` or `"0.5"` is not a number.',
    }
)


def link_to(endpoint: Endpoint, description: str, **fields: Any) -> dict[str, Any]:
    """An OpenAPI link from a response to `endpoint` of the same service (for `responses={200: {"links": ...}}`).

    `fields` maps a path parameter of `endpoint`, or else a field of its JSON body, to a runtime expression
    such as "$response.body#/job_id". Clients read the links as "what to call next"; schemathesis' state
    machine follows them (the stateful test of workflow-ml-training)."""
    pointer = endpoint.path.replace("~", "~0").replace("/", "~1")
    placeholders = {name for _, name, _, _ in string.Formatter().parse(endpoint.path) if name}
    link: dict[str, Any] = {"operationRef": f"#/paths/{pointer}/{endpoint.method.lower()}", "description": description}
    parameters = {k: v for k, v in fields.items() if k in placeholders}
    body = {k: v for k, v in fields.items() if k not in placeholders}
    if parameters:
        link["parameters"] = parameters
    if body:
        link["requestBody"] = body
    return link


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
    """The service's app; InsecureConfiguration (it does not start) when HSS_API_KEY is missing or a placeholder
    and HSS_ALLOW_NO_API_KEY is not true."""
    expected_key = required_api_key(settings)  # first: nothing is built for a service that may not start

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
        responses=error_responses({500: "`internal_error`: an unexpected error (a bug); see the service log."}),
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

    auth = Depends(api_key_dependency(expected_key))
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
    app.state.metrics_registry = registry  # a service adds its own collectors here (workflow-audio's pool)
    return app


def lazy_app(build: Callable[[], FastAPI]) -> Callable[[str], Any]:
    """A module `__getattr__` that builds `app` when it is first asked for, e.g. by uvicorn's `module:app`.

    Starting a service without its secrets fails there, with the InsecureConfiguration message; importing the
    module (its tests, which build their own apps with explicit settings) builds nothing and needs no secret."""
    built: list[FastAPI] = []

    def __getattr__(name: str) -> Any:
        if name != "app":
            raise AttributeError(f"module has no attribute {name!r}")
        if not built:
            built.append(build())
        return built[0]

    return __getattr__


def settings_of(request_app: FastAPI) -> ServiceSettings:
    """The settings instance the app was built with (routes reach it via request.app)."""
    return request_app.state.settings
