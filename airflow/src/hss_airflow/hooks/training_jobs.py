"""Following one training job of workflow-ml-training (`GET /train/jobs/{job_id}`): progress logging, tolerated
transient failures, and the final verdict. The hooks' poll loops (sync and async) share it."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from contracts.catalog import TRAINING_JOB
from contracts.training import JobStatus, TrainingJob
from hss_airflow.hooks.errors import ServiceRejected, ServiceUnavailable
from hss_airflow.hooks.validation import error_summary, interpret_response, is_retryable_status

DEFAULT_MAX_POLL_FAILURES = 10  # consecutive failed polls of a training job before giving up


def job_endpoint(job_id: str) -> str:
    """The path of one training job (the id quoted: it comes from the service, and a URL part)."""
    return TRAINING_JOB.format_path(job_id=quote(job_id, safe=""))


class JobTracker:
    """Follows one training job's polls; the trigger (async) and the synchronous poll loop share it."""

    def __init__(
        self, job_id: str, *, log: logging.Logger | Any, max_consecutive_failures: int = DEFAULT_MAX_POLL_FAILURES
    ) -> None:
        self.job_id = job_id
        self.what = f"GET {job_endpoint(job_id)}"
        self.log = log
        self.max_consecutive_failures = max(1, max_consecutive_failures)
        self.failures = 0
        self._last: tuple[JobStatus, str] | None = None
        self._last_progress = -1.0

    def on_response(self, status: int, text: str) -> TrainingJob | None:
        """The finished job, or None to keep polling. ServiceRejected on a 4xx or a contract violation."""
        if is_retryable_status(status):
            self.on_transient(error_summary(status, text))
            return None
        job = TrainingJob.model_validate(interpret_response(status, text, TrainingJob, self.what))
        self.failures = 0
        self._log_progress(job)
        return job if job.status.finished else None

    def on_transient(self, reason: str) -> None:
        self.failures += 1
        if self.failures >= self.max_consecutive_failures:
            raise ServiceUnavailable(f"{self.what}: {self.failures} consecutive failed polls; last: {reason}")
        self.log.warning(
            "%s failed (%s); %d/%d consecutive failures, polling on",
            self.what,
            reason,
            self.failures,
            self.max_consecutive_failures,
        )

    def _log_progress(self, job: TrainingJob) -> None:
        state = (job.status, job.stage)
        if state != self._last or job.progress >= self._last_progress + 0.1:
            self.log.info("training job %s: %s %3.0f%% %s", job.job_id, job.status.value, job.progress * 100, job.stage)
            self._last, self._last_progress = state, job.progress


def job_result(job: TrainingJob, log: logging.Logger | Any | None = None) -> dict[str, Any]:
    """A finished job's JSON when it succeeded; ServiceRejected (bad input) or ServiceUnavailable when it failed."""
    if job.status == JobStatus.succeeded:
        if log is not None and job.metrics is not None:
            log.info(
                "training %s succeeded: model %s, ensemble AUC %.3f on %d rows",
                job.training_id,
                job.model_version,
                job.metrics.ensemble_auc,
                job.metrics.n_rows,
            )
        return job.model_dump(mode="json")
    if job.status != JobStatus.failed:
        raise ServiceRejected(f"training job {job.job_id!r} is not finished ({job.status.value})")
    message = f"training job {job.job_id!r} failed: {job.error or '(no error given)'}"
    if job.retryable:  # the service says: an accident (restart, worker died), not bad input
        raise ServiceUnavailable(message)
    raise ServiceRejected(message)
