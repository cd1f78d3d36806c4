"""Secrets a service needs before it may start, and the X-API-Key check (constant-time); probes stay open.

Fail closed: create_app() refuses to build a service whose HSS_API_KEY is unset, empty or a placeholder of
.env.example ('change-me...'), unless the development flag HSS_ALLOW_NO_API_KEY=true is set (then requests
need no key, and a warning says so at start). The same rule, without a bypass, guards HSS_MODEL_SIGNING_KEY
(services.common.model_signing).
"""

from __future__ import annotations

import logging
import secrets

from fastapi import Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from contracts.deployment_secrets import PLACEHOLDER_PREFIX, is_placeholder
from services.common.errors import ServiceError
from services.common.settings import ServiceSettings

log = logging.getLogger("hss.services")

GENERATE_COMMAND = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
API_KEY_ENV = "HSS_API_KEY"
ALLOW_NO_API_KEY_ENV = "HSS_ALLOW_NO_API_KEY"

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description=f"The service's {API_KEY_ENV}; required on every route except /health, /ready and /metrics.",
)


class InsecureConfiguration(RuntimeError):
    """A secret the service needs is missing or still a placeholder: the service does not start."""


def require_secret(value: SecretStr | None, env_var: str, purpose: str) -> str:
    """The secret's value; InsecureConfiguration (naming `env_var` and how to make one) when it is unusable."""
    text = value.get_secret_value() if value is not None else ""
    if not text.strip():
        problem = "is not set (or empty)"
    elif is_placeholder(text):  # the one rule of contracts.deployment_secrets: change-me…, or a published value
        problem = f"is still a placeholder of .env.example (it starts with '{PLACEHOLDER_PREFIX}') or a published value"
    else:
        return text
    raise InsecureConfiguration(
        f"{env_var} {problem}; the service refuses to start without it. {purpose} Generate a value with\n"
        f"    {GENERATE_COMMAND}\nand set {env_var} in the deployment's environment (.env)."
    )


def required_api_key(settings: ServiceSettings) -> bytes | None:
    """The key every service route requires, or None in an explicit development run without one."""
    unset = settings.api_key is None or not settings.api_key.get_secret_value().strip()
    if unset and settings.allow_no_api_key:
        log.warning(
            "!!! %s is not set and %s=true: this service accepts EVERY request without an X-API-Key. "
            "Development only; never expose it. Set %s to require the key.",
            API_KEY_ENV,
            ALLOW_NO_API_KEY_ENV,
            API_KEY_ENV,
        )
        return None
    purpose = (
        f"It is the X-API-Key every caller (the Airflow connections) must send. Only for a development run, "
        f"{ALLOW_NO_API_KEY_ENV}=true starts the service without a key."
    )
    return require_secret(settings.api_key, API_KEY_ENV, purpose).encode()


def api_key_dependency(expected: bytes | None):
    """The route dependency; `expected` is what required_api_key() returned when the app was built."""

    async def require_api_key(provided: str | None = Security(api_key_header)) -> None:
        if expected is None:
            return
        if provided is None or not secrets.compare_digest(provided.encode(), expected):
            raise ServiceError("Missing or wrong X-API-Key header.", code="unauthorized", status_code=401)

    return require_api_key
