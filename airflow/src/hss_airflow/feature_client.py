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

from contracts.catalog import (
    AUDIO,
    AUDIO_ANALYZE,
    CONTENT,
    LYRICS_ANALYZE,
    PREDICT_SINGLE,
    PREDICTION,
    Endpoint,
    ServiceSpec,
)
from hss_airflow.http_calls import call_endpoint
from hss_airflow.service_calls import ServiceRejected, ServiceUnavailable

log = logging.getLogger(__name__)

# kind -> (service, endpoint)
SERVICES: dict[str, tuple[ServiceSpec, Endpoint]] = {
    "audio": (AUDIO, AUDIO_ANALYZE),
    "content": (CONTENT, LYRICS_ANALYZE),
    "prediction": (PREDICTION, PREDICT_SINGLE),  # rescore_library
}

__all__ = ["SERVICES", "ServiceRejected", "ServiceUnavailable", "call_service"]


def call_service(
    kind: str, payload: dict[str, Any], *, timeout: float = 300.0, attempts: int = 4, backoff: float = 1.0
) -> dict[str, Any]:
    """POST `payload` to the `kind` service ("audio" / "content" / "prediction"); the validated response.

    The timeout is longer than the operators' because a batch queues many songs on workflow-audio's
    worker pool at once; a request waits there for a free worker."""
    service, endpoint = SERVICES[kind]
    return call_endpoint(
        service.conn_id,
        endpoint,
        payload,
        timeout=timeout,
        attempts=attempts,
        backoff=backoff,
        log=log,
        unauthorized_is_transient=True,
    )
