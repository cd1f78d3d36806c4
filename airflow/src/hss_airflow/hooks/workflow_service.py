"""WorkflowServiceHook and WorkflowServiceAsyncHook: the one way this package calls an HSS service.

Built on the HTTP provider (`HttpHook`, `HttpAsyncHook`): the connection is the service's Airflow connection
(`AIRFLOW_CONN_WORKFLOW_*`, the catalog's `conn_id`), its password is sent as the `X-API-Key` header and never
as basic auth. On top of the provider the hook adds what every caller needs the same way: the request timeout,
the retry policy (hss_airflow.hooks.retry: 4xx fail at once; 5xx, 429, connection errors and timeouts are
retried with backoff, 429 within a back-pressure budget), contract validation of the request and the response
(hss_airflow.hooks.validation) and the error classes (hss_airflow.hooks.errors). The async hook is the
triggerer's: it polls a training job.

Callers: the operators (hss_airflow.operators), the training feature extraction (hss_airflow.training_features,
from threads: one hook per call, so threads share nothing but the connection look-up), rescore_library
(hss_airflow.rescore), promote_model and the training-job trigger (hss_airflow.triggers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import requests
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.http.hooks.http import HttpAsyncHook, HttpHook
from airflow.sdk import Connection

from contracts.catalog import TRAINING, TRAINING_JOB, Endpoint, ServiceSpec
from contracts.training import TrainingJob
from hss_airflow.hooks.errors import ServiceUnavailable
from hss_airflow.hooks.retry import TRANSIENT_EXCEPTIONS, describe_exception, http_retry_args
from hss_airflow.hooks.training_jobs import DEFAULT_MAX_POLL_FAILURES, JobTracker, job_endpoint
from hss_airflow.hooks.validation import error_summary, interpret_response, validate_request

API_KEY_HEADER = "X-API-Key"


def api_key_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if api_key:
        headers[API_KEY_HEADER] = api_key
    return headers


def no_basic_auth(*_args: Any) -> None:
    """`auth_type` for the HTTP hooks: the connection's password is the API key header, never basic auth."""
    return None


class WorkflowServiceHook(HttpHook):
    """Contract-validated, retried calls to one HSS service.

    :param conn_id: the service's Airflow connection (`ServiceSpec.conn_id`, e.g. `workflow_audio`).
    :param request_timeout: seconds one HTTP request may take before it counts as a transient failure.
    :param attempts: tries of one call (connection errors, timeouts, 5xx) before ServiceUnavailable; >= 1.
    :param backoff: first wait between those tries in seconds, doubled each time (capped at 30 s).
    :param logger: where retries and timings are logged (an operator passes its task log); default the hook's.
    """

    hook_name = "HSS workflow service"

    def __init__(
        self,
        conn_id: str,
        *,
        request_timeout: float = 120.0,
        attempts: int = 4,
        backoff: float = 1.0,
        logger: logging.Logger | Any | None = None,
    ) -> None:
        super().__init__(method="POST", http_conn_id=conn_id, auth_type=no_basic_auth)
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.conn_id = conn_id
        self.request_timeout = float(request_timeout)
        self.attempts = int(attempts)
        self.backoff = float(backoff)
        self.logger = logger if logger is not None else self.log
        self._sending_with: Connection | None = None  # the connection of the send() under way

    @classmethod
    def for_service(cls, service: ServiceSpec, **kwargs: Any) -> WorkflowServiceHook:
        return cls(service.conn_id, **kwargs)

    def get_connection(self, conn_id: str) -> Connection:  # type: ignore[override]
        """During a send(), the connection it looked up: HttpHook asks for it again in every request (the base
        URL), and in a task each look-up is a round trip to the supervisor. A new send() looks it up again, so
        a changed API key is seen by the next call."""
        if self._sending_with is not None and conn_id == self.conn_id:
            return self._sending_with
        return super().get_connection(conn_id)

    def _headers(self) -> dict[str, str]:
        return api_key_headers(self.get_connection(self.conn_id).password)

    def call(
        self,
        endpoint: Endpoint,
        payload: Any = None,
        *,
        path: str | None = None,
        unauthorized_is_transient: bool = False,
    ) -> dict[str, Any]:
        """Validate `payload` with the endpoint's request model, send it, return the validated response.

        `path` fills a templated path (`TRAINING_JOB.format_path(...)`). A 4xx or a contract violation raises
        ServiceRejected; what is still transient after the retries raises ServiceUnavailable. With
        `unauthorized_is_transient`, a 401 (a wrong API key, not a bad input) is ServiceUnavailable too.
        """
        path = path or endpoint.path
        what = f"{endpoint.method} {path} on {self.conn_id}"
        body = None
        if endpoint.request is not None and payload is not None:
            body = validate_request(endpoint.request, payload, what)
        response = self.send(endpoint.method, path, body)
        if unauthorized_is_transient and response.status_code == 401:
            raise ServiceUnavailable(f"{what}: {error_summary(401, response.text)} (check the connection's password)")
        return interpret_response(response.status_code, response.text, endpoint.response, what)

    def send(self, method: str, path: str, body: Any = None) -> requests.Response:
        """Send once, retrying connection errors, timeouts, 5xx and 429 with backoff; return the last response."""
        what = f"{method} {path} on {self.conn_id}"
        self.method = method.upper()
        started = time.monotonic()
        retry = http_retry_args(
            attempts=self.attempts, backoff=self.backoff, what=what, timeout=self.request_timeout, log=self.logger
        )
        self._sending_with = self.get_connection(self.conn_id)
        try:
            response = self.run_with_advanced_retry(
                retry,
                endpoint=path,
                json=body,
                headers=self._headers(),
                extra_options={"check_response": False, "timeout": self.request_timeout},
            )
        finally:
            self._sending_with = None
        self.logger.info("%s -> HTTP %d in %.2f s", what, response.status_code, time.monotonic() - started)
        return response

    def training_job(self, job_id: str) -> TrainingJob:
        """`GET /train/jobs/{job_id}` once (with the retry policy)."""
        return TrainingJob.model_validate(self.call(TRAINING_JOB, path=job_endpoint(job_id)))

    def wait_for_training_job(
        self, job_id: str, *, poll_interval: float, max_consecutive_failures: int = DEFAULT_MAX_POLL_FAILURES
    ) -> TrainingJob:
        """Poll the job from this process until it has finished (the synchronous twin of the async hook's)."""
        tracker = JobTracker(job_id, log=self.logger, max_consecutive_failures=max_consecutive_failures)
        self.method = "GET"
        headers = self._headers()
        options = {"check_response": False, "timeout": self.request_timeout}
        while True:
            try:
                response = self.run(job_endpoint(job_id), headers=headers, extra_options=dict(options))
            except TRANSIENT_EXCEPTIONS as exc:
                tracker.on_transient(describe_exception(exc, self.request_timeout))
            else:
                job = tracker.on_response(response.status_code, response.text)
                if job is not None:
                    return job
            time.sleep(poll_interval)


def call_service(
    service: ServiceSpec,
    endpoint: Endpoint,
    payload: Any = None,
    *,
    timeout: float,
    attempts: int = 4,
    backoff: float = 1.0,
    logger: logging.Logger | Any | None = None,
    unauthorized_is_transient: bool = False,
) -> dict[str, Any]:
    """One call on a fresh hook (safe from threads): `WorkflowServiceHook.for_service(service).call(...)`."""
    hook = WorkflowServiceHook.for_service(
        service, request_timeout=timeout, attempts=attempts, backoff=backoff, logger=logger
    )
    return hook.call(endpoint, payload, unauthorized_is_transient=unauthorized_is_transient)


class WorkflowServiceAsyncHook(HttpAsyncHook):
    """The triggerer's side: polls one training job of workflow-ml-training without blocking the event loop.

    One request per poll (retry_limit=1); transient failures are counted by JobTracker across polls instead.
    """

    hook_name = "HSS workflow service (async)"

    def __init__(self, conn_id: str = TRAINING.conn_id, *, request_timeout: float = 30.0) -> None:
        super().__init__(method="GET", http_conn_id=conn_id, auth_type=no_basic_auth, retry_limit=1)
        self.conn_id = conn_id
        self.request_timeout = float(request_timeout)

    async def wait_for_training_job(
        self,
        job_id: str,
        *,
        poll_interval: float,
        max_consecutive_failures: int = DEFAULT_MAX_POLL_FAILURES,
        logger: logging.Logger | Any,
    ) -> dict[str, Any]:
        """The finished job's JSON; ServiceRejected / ServiceUnavailable when polling cannot go on."""
        tracker = JobTracker(job_id, log=logger, max_consecutive_failures=max_consecutive_failures)
        connection = await get_async_connection(self.conn_id, hook=self)
        headers = api_key_headers(connection.password)
        options = {"check_response": False, "timeout": aiohttp.ClientTimeout(total=self.request_timeout)}
        logger.info("polling training job %s every %g s (%s)", job_id, poll_interval, self.conn_id)
        async with self.session() as http:
            while True:
                try:
                    response = await http.run(job_endpoint(job_id), headers=headers, extra_options=dict(options))
                    text = await response.text()
                except (TimeoutError, aiohttp.ClientError) as exc:
                    tracker.on_transient(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                else:
                    job = tracker.on_response(response.status, text)
                    if job is not None:
                        return job.model_dump(mode="json")
                await asyncio.sleep(poll_interval)
