"""X-API-Key check (constant-time) when HSS_API_KEY is set; probes stay open."""

from __future__ import annotations

import secrets

from fastapi import Security
from fastapi.security import APIKeyHeader

from services.common.errors import ServiceError
from services.common.settings import ServiceSettings

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Required when the service runs with HSS_API_KEY set."
)


def api_key_dependency(settings: ServiceSettings):
    async def require_api_key(provided: str | None = Security(api_key_header)) -> None:
        expected = settings.api_key
        if expected is None:
            return
        if provided is None or not secrets.compare_digest(provided.encode(), expected.get_secret_value().encode()):
            raise ServiceError("Missing or wrong X-API-Key header.", code="unauthorized", status_code=401)

    return require_api_key
