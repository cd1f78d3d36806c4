"""Triggers of the HSS workflow (run by the triggerer; serialized as `hss_airflow.triggers.<name>`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.http.hooks.http import HttpAsyncHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from contracts.catalog import TRAINING
from hss_airflow.service_calls import (
    DEFAULT_MAX_POLL_FAILURES,
    JobTracker,
    ServiceCallError,
    api_key_headers,
    job_endpoint,
    no_basic_auth,
)


class MLTrainingJobTrigger(BaseTrigger):
    """Polls `GET /train/jobs/{job_id}` on workflow-ml-training until the job has finished.

    Fires one event: `{"status": "finished", "job": <TrainingJob JSON>}` (succeeded or failed; the
    operator decides), or `{"status": "error", "message", "retryable", "job_id"}` when polling cannot
    go on (a 4xx, a contract violation, or `max_consecutive_failures` transient failures in a row).
    The API key is not serialized: the triggerer resolves the connection itself.
    """

    def __init__(
        self,
        *,
        job_id: str,
        conn_id: str = TRAINING.conn_id,
        poll_interval: float = 5.0,
        request_timeout: float = 30.0,
        max_consecutive_failures: int = DEFAULT_MAX_POLL_FAILURES,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.request_timeout = float(request_timeout)
        self.max_consecutive_failures = int(max_consecutive_failures)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        tracker = JobTracker(self.job_id, log=self.log, max_consecutive_failures=self.max_consecutive_failures)
        try:
            job = await self._poll_until_finished(tracker)
        except ServiceCallError as exc:
            yield self._error(str(exc), retryable=exc.retryable)
            return
        except Exception as exc:  # e.g. the connection is not defined: let the task's retries decide
            yield self._error(f"polling training job {self.job_id!r} failed: {type(exc).__name__}: {exc}", True)
            return
        yield TriggerEvent({"status": "finished", "job": job})

    async def _poll_until_finished(self, tracker: JobTracker) -> dict[str, Any]:
        hook = HttpAsyncHook(method="GET", http_conn_id=self.conn_id, auth_type=no_basic_auth, retry_limit=1)
        connection = await get_async_connection(self.conn_id, hook=hook)
        headers = api_key_headers(connection.password)
        options = {"check_response": False, "timeout": aiohttp.ClientTimeout(total=self.request_timeout)}
        self.log.info("polling training job %s every %g s (%s)", self.job_id, self.poll_interval, self.conn_id)
        async with hook.session() as http:
            while True:
                try:
                    response = await http.run(job_endpoint(self.job_id), headers=headers, extra_options=dict(options))
                    text = await response.text()
                except (TimeoutError, aiohttp.ClientError) as exc:
                    tracker.on_transient(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                else:
                    job = tracker.on_response(response.status, text)
                    if job is not None:
                        return job.model_dump(mode="json")
                await asyncio.sleep(self.poll_interval)

    def _error(self, message: str, retryable: bool) -> TriggerEvent:
        self.log.error("training job %s: %s", self.job_id, message)
        return TriggerEvent({"status": "error", "message": message, "retryable": retryable, "job_id": self.job_id})
