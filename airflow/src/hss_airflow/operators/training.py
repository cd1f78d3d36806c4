"""MLTrainingOperator: the training chain's `smart_ensemble_training` task (hss_airflow.training_dag).

Starts the smart-ensemble job on workflow-ml-training and defers to MLTrainingJobTrigger, or polls from the
worker slot (deferrable=False); both wait through the hooks (hss_airflow.hooks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contracts.catalog import TRAINING, TRAINING_START
from contracts.training import TrainingAccepted, TrainingJob
from hss_airflow.hooks import (
    DEFAULT_MAX_POLL_FAILURES,
    ServiceRejected,
    ServiceUnavailable,
    airflow_errors,
    job_result,
    parse_model,
)
from hss_airflow.operators.service import WorkflowServiceOperator
from hss_airflow.triggers import MLTrainingJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class MLTrainingOperator(WorkflowServiceOperator):
    """workflow-ml-training: start the smart-ensemble training, wait for the job, return the TrainingJob JSON.

    Deferrable (default): after the 202 the worker slot is freed and `MLTrainingJobTrigger` polls the job
    in the triggerer. Resubmitting the same `training_id` returns the existing job (safe for retries).

    :param training_id: identifier of the training (templated); also the job id.
    :param dataset_path: the features CSV, relative to the data root (templated).
    :param cv_folds: cross-validation folds per model.
    :param auc_floor: the ensemble's cross-validated AUC below which the job fails instead of saving a model.
    :param force: restart a training that exists already (refused while it runs).
    :param poll_interval: seconds between two polls of the job.
    :param deferrable: wait in the triggerer (True) or poll from the worker slot (False).
    :param max_poll_failures: consecutive failed polls tolerated before the task fails.
    """

    service = TRAINING
    endpoint = TRAINING_START
    template_fields = ("training_id", "dataset_path")
    ui_color = "#fde8c8"

    def __init__(
        self,
        *,
        training_id: str,
        dataset_path: str,
        cv_folds: int = 5,
        auc_floor: float = 0.55,
        force: bool = False,
        poll_interval: float = 5.0,
        deferrable: bool = True,
        max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.training_id = training_id
        self.dataset_path = dataset_path
        self.cv_folds = cv_folds
        self.auc_floor = auc_floor
        self.force = force
        self.poll_interval = float(poll_interval)
        self.deferrable = deferrable
        self.max_poll_failures = int(max_poll_failures)

    def build_payload(self, context: Context) -> dict[str, Any]:
        return {
            "training_id": self.training_id,
            "dataset_path": self.dataset_path,
            "cv_folds": self.cv_folds,
            "auc_floor": self.auc_floor,
            "force": self.force,
        }

    def execute(self, context: Context) -> dict[str, Any]:
        with airflow_errors():
            accepted = TrainingAccepted.model_validate(super().execute(context))
            if accepted.existing:
                self.log.info(
                    "training %s exists already: job %s is %s", accepted.training_id, accepted.job_id, accepted.status
                )
            if accepted.status.finished:
                return job_result(self.hook.training_job(accepted.job_id), self.log)
            if not self.deferrable:
                return job_result(self._poll(accepted.job_id), self.log)
        self.log.info("training job %s is %s; deferring to the triggerer", accepted.job_id, accepted.status.value)
        self.defer(
            trigger=MLTrainingJobTrigger(
                job_id=accepted.job_id,
                conn_id=self.conn_id,
                poll_interval=self.poll_interval,
                request_timeout=self.request_timeout,
                max_consecutive_failures=self.max_poll_failures,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        with airflow_errors():
            if event.get("status") != "finished":
                message = event.get("message") or f"unexpected trigger event {event!r}"
                raise (ServiceUnavailable if event.get("retryable") else ServiceRejected)(message)
            job = parse_model(TrainingJob, event.get("job"), "the training job in the trigger event")
            return job_result(job, self.log)

    def _poll(self, job_id: str) -> TrainingJob:
        """Synchronous twin of MLTrainingJobTrigger.run (deferrable=False)."""
        return self.hook.wait_for_training_job(
            job_id, poll_interval=self.poll_interval, max_consecutive_failures=self.max_poll_failures
        )
