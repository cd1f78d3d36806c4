"""One HTTP call to a workflow service through the HTTP provider: the single place that builds the
HttpHook, sends the API key, applies the retry policy and logs the timing.

Used by WorkflowServiceOperator (one call per task) and by the dataset feature extraction (many
calls from worker threads: each call builds its own hook, so threads share nothing but the
connection look-up). Validation of what is sent and received stays with the callers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook

from hss_airflow.service_calls import api_key_headers, http_retry_args, no_basic_auth


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
