"""One HTTP call to a workflow service through the HTTP provider: the single place that builds the
HttpHook, sends the API key, applies the retry policy, logs the timing and validates both ends of the
call with the endpoint's contract models (`contracts.catalog.Endpoint`).

Used by WorkflowServiceOperator (one call per task) and by the dataset feature extraction (many
calls from worker threads: each call builds its own hook, so threads share nothing but the
connection look-up).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook

from contracts.catalog import Endpoint
from hss_airflow.service_calls import (
    ServiceUnavailable,
    api_key_headers,
    error_summary,
    http_retry_args,
    interpret_response,
    no_basic_auth,
    validate_request,
)


def call_endpoint(
    conn_id: str,
    endpoint: Endpoint,
    payload: Any = None,
    *,
    path: str | None = None,
    timeout: float,
    attempts: int,
    backoff: float,
    log: logging.Logger | Any,
    unauthorized_is_transient: bool = False,
) -> dict[str, Any]:
    """Validate `payload` with the endpoint's request model, send it, return the validated response.

    `path` fills a templated path (`TRAINING_JOB.format_path(...)`). A 4xx or a contract violation raises
    ServiceRejected; what is still transient after the retries raises ServiceUnavailable. With
    `unauthorized_is_transient`, a 401 (a wrong API key, not a bad input) is ServiceUnavailable too.
    """
    path = path or endpoint.path
    what = f"{endpoint.method} {path} on {conn_id}"
    body = None
    if endpoint.request is not None and payload is not None:
        body = validate_request(endpoint.request, payload, what)
    response = send(conn_id, endpoint.method, path, body, timeout=timeout, attempts=attempts, backoff=backoff, log=log)
    if unauthorized_is_transient and response.status_code == 401:
        raise ServiceUnavailable(f"{what}: {error_summary(401, response.text)} (check the connection's password)")
    return interpret_response(response.status_code, response.text, endpoint.response, what)


def send(
    conn_id: str,
    method: str,
    endpoint: str,
    body: Any = None,
    *,
    timeout: float,
    attempts: int,
    backoff: float,
    log: logging.Logger | Any,
) -> requests.Response:
    """Send once, retrying connection errors, timeouts, 5xx and 429 with backoff; return the last response."""
    what = f"{method} {endpoint} on {conn_id}"
    hook = HttpHook(method=method, http_conn_id=conn_id, auth_type=no_basic_auth)
    started = time.monotonic()
    response = hook.run_with_advanced_retry(
        http_retry_args(attempts=attempts, backoff=backoff, what=what, timeout=timeout, log=log),
        endpoint=endpoint,
        json=body,
        headers=api_key_headers(hook.get_connection(conn_id).password),
        extra_options={"check_response": False, "timeout": timeout},
    )
    log.info("%s -> HTTP %d in %.2f s", what, response.status_code, time.monotonic() - started)
    return response
