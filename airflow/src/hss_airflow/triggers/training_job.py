"""MLTrainingJobTrigger: the deferred wait of `smart_ensemble_training` (MLTrainingOperator), in the triggerer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from contracts.catalog import TRAINING
from hss_airflow.hooks import DEFAULT_MAX_POLL_FAILURES, ServiceCallError, WorkflowServiceAsyncHook

# Serialized into the metadata DB with each deferred task: the package path, stable across module moves.
CLASSPATH = "hss_airflow.triggers.MLTrainingJobTrigger"


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
            CLASSPATH,
            {
                "job_id": self.job_id,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = WorkflowServiceAsyncHook(self.conn_id, request_timeout=self.request_timeout)
        try:
            job = await hook.wait_for_training_job(
                self.job_id,
                poll_interval=self.poll_interval,
                max_consecutive_failures=self.max_consecutive_failures,
                logger=self.log,
            )
        except ServiceCallError as exc:
            yield self._error(str(exc), retryable=exc.retryable)
            return
        except Exception as exc:  # e.g. the connection is not defined: let the task's retries decide
            yield self._error(f"polling training job {self.job_id!r} failed: {type(exc).__name__}: {exc}", True)
            return
        yield TriggerEvent({"status": "finished", "job": job})

    def _error(self, message: str, retryable: bool) -> TriggerEvent:
        self.log.error("training job %s: %s", self.job_id, message)
        return TriggerEvent({"status": "error", "message": message, "retryable": retryable, "job_id": self.job_id})
