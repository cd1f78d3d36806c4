"""Service calls made from @task code (feature extraction in process_training_dataset), from threads.

One call = what WorkflowServiceOperator.call_service does: the same `hss_airflow.http_calls.send`
(HttpHook, X-API-Key, shared retry policy) and the same contract validation and envelope messages, so the
dataset rows and the single-song DAG talk to the services the same way: a 4xx -> ServiceRejected (the
caller drops the row and reports it); connection errors, timeouts, 5xx and 429 are retried with
exponential backoff, then ServiceUnavailable (the task fails and Airflow retries it). A 401 means the API
key is wrong, not that the row is bad: it is ServiceUnavailable too, so no row is silently dropped for it.

"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from contracts.audio import AudioAnalysisRequest, AudioAnalysisResponse
from contracts.content import LyricsAnalysisRequest, LyricsAnalysisResponse
from hss_airflow.http_calls import send
from hss_airflow.service_calls import (
    ServiceRejected,
    ServiceUnavailable,
    error_summary,
    interpret_response,
    validate_request,
)

log = logging.getLogger(__name__)

# kind -> (connection id, endpoint, request model, response model)
SERVICES: dict[str, tuple[str, str, type[BaseModel], type[BaseModel]]] = {
    "audio": ("workflow_audio", "/analyze/comprehensive", AudioAnalysisRequest, AudioAnalysisResponse),
    "content": ("workflow_content", "/analyze/lyrics", LyricsAnalysisRequest, LyricsAnalysisResponse),
}

__all__ = ["SERVICES", "ServiceRejected", "ServiceUnavailable", "call_service"]


def call_service(
    kind: str, payload: dict[str, Any], *, timeout: float = 300.0, attempts: int = 4, backoff: float = 1.0
) -> dict[str, Any]:
    """POST `payload` to the `kind` service ("audio" / "content"); the validated response as a dict.

    The timeout is longer than the operators' because a batch queues many songs on workflow-audio's
    worker pool at once; a request waits there for a free worker."""
    conn_id, endpoint, request_model, response_model = SERVICES[kind]
    what = f"POST {endpoint} on {conn_id}"
    body = validate_request(request_model, payload, what)
    response = send(conn_id, "POST", endpoint, body, timeout=timeout, attempts=attempts, backoff=backoff, log=log)
    if response.status_code == 401:
        raise ServiceUnavailable(f"{what}: {error_summary(401, response.text)} (check the connection's password)")
    return interpret_response(response.status_code, response.text, response_model, what)
