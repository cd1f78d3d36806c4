"""PromoteModelOperator: the training chain's last task, `promote_model`.

It compares the new ensemble with the model prediction serves (`GET /models/current` on workflow-ml-training),
asks `hss_airflow.promotion.decide`, and then:
- promote: `POST /models/promote` (idempotent, so a retry is safe); the task succeeds and its outlet
  `hss_trained_model` gets an event whose extra names the model: `rescore_library` runs on it;
- keep: the task ends *skipped* with the reason, which emits no asset event (Airflow records outlet events
  only for a succeeded task), so nothing downstream of the model moves;
- ask (`promotion=approve`): Airflow's human-in-the-loop approval. The task waits in `awaiting_input`
  (Airflow 3.3: no worker slot, no trigger) until someone answers in the UI (Required actions) or through
  `PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/promote_model/-1/hitlDetails`; Approve promotes,
  Reject keeps. No answer within `response_timeout` counts as Reject.
Each outcome is written into the training report (`promotion`) and the task log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk.exceptions import AirflowSkipException

from contracts.catalog import MODEL_CURRENT, MODEL_PROMOTE, TRAINING
from contracts.training import ServingModel
from hss_airflow.assets import TRAINED_MODEL
from hss_airflow.hooks import WorkflowServiceHook, airflow_errors
from hss_airflow.promotion import AUC_TOLERANCE, Decision, decide
from hss_airflow.reports import record_promotion

if TYPE_CHECKING:
    from airflow.sdk import Context

APPROVAL_TIMEOUT = timedelta(hours=24)


class PromoteModelOperator(ApprovalOperator):
    """Promote the model `aggregate_results` reported, by the rule of `mode` (see the module doc).

    :param summary: aggregate_results' return value (training_id, model_version, ensemble_auc; templated,
        usually its XComArg).
    :param mode: `auto`, `approve` or `never` (templated; the DAGs pass `{{ params.promotion }}`).
    :param tolerance: how much lower than the serving model's AUC the new one may be in `auto`.
    :param conn_id: the workflow-ml-training connection (default: the catalog's).
    :param request_timeout: seconds per HTTP request to the training service.
    :param response_timeout: how long an approval may wait; no answer by then rejects.
    """

    template_fields = (*ApprovalOperator.template_fields, "summary", "mode")
    ui_color = "#e3f5d8"

    def __init__(
        self,
        *,
        summary: Any,
        mode: str,
        tolerance: float = AUC_TOLERANCE,
        conn_id: str | None = None,
        request_timeout: float = 30.0,
        response_timeout: timedelta = APPROVAL_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [TRAINED_MODEL])
        super().__init__(
            subject="Promote the new model?",
            body=None,
            defaults=ApprovalOperator.REJECT,  # what a timeout chooses
            response_timeout=response_timeout,
            **kwargs,
        )
        self.summary = summary
        self.mode = mode
        self.tolerance = float(tolerance)
        self.conn_id = conn_id or TRAINING.conn_id
        self.request_timeout = float(request_timeout)

    # the training service ------------------------------------------------------------------------
    def _call(self, endpoint: Any, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        hook = WorkflowServiceHook(self.conn_id, request_timeout=self.request_timeout, logger=self.log)
        with airflow_errors():
            return hook.call(endpoint, payload)

    def _serving(self) -> ServingModel:
        return ServingModel.model_validate(self._call(MODEL_CURRENT))

    def _decision(self) -> tuple[Decision, ServingModel]:
        serving = self._serving()
        summary = self.summary
        return decide(self.mode, summary["model_version"], summary["ensemble_auc"], serving, self.tolerance), serving

    # outcomes ------------------------------------------------------------------------------------
    def _promote(self, context: Context, reason: str, serving: ServingModel, decided_by: str) -> dict[str, Any]:
        promoted = ServingModel.model_validate(
            self._call(MODEL_PROMOTE, {"training_id": self.summary["training_id"], "reason": reason})
        )
        self.log.info("promoted %s: %s", promoted.model_version, reason)
        record = self._record(promoted=True, reason=reason, serving=serving, decided_by=decided_by)
        context["outlet_events"][TRAINED_MODEL].extra = {  # rescore_library pins this model
            "training_id": promoted.training_id,
            "model_version": promoted.model_version,
            "ensemble_auc": promoted.ensemble_auc,
            "previous_model_version": promoted.previous_model_version,
        }
        return {**record, "serving": promoted.model_dump(mode="json")}

    def _keep(self, reason: str, serving: ServingModel, decided_by: str) -> None:
        self._record(promoted=False, reason=reason, serving=serving, decided_by=decided_by)
        self.log.warning("not promoted: %s", reason)
        raise AirflowSkipException(f"model kept: {reason}")

    def _record(self, *, promoted: bool, reason: str, serving: ServingModel, decided_by: str) -> dict[str, Any]:
        record = {
            "mode": self.mode,
            "promoted": promoted,
            "reason": reason,
            "decided_by": decided_by,
            "decided_at": datetime.now(UTC).isoformat(),
            "tolerance": self.tolerance,
            "model_version": self.summary["model_version"],
            "serving_before": serving.model_version,
            "serving_before_auc": serving.ensemble_auc,
        }
        record_promotion(self.summary["training_id"], record)
        return record

    # Airflow entry points ------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        decision, serving = self._decision()
        self.log.info("promotion=%s: %s", self.mode, decision.reason)
        if decision.action == "promote":
            return self._promote(context, decision.reason, serving, decided_by=f"rule ({self.mode})")
        if decision.action == "keep":
            self._keep(decision.reason, serving, decided_by=f"rule ({self.mode})")
        self.subject = f"Promote {self.summary['model_version']}?"
        self.body = (
            f"{decision.reason}.\n\n**Approve** makes it the model prediction serves (and rescores the library); "
            f"**Reject** keeps {serving.model_version}. No answer within {self.response_timeout} rejects."
        )
        return super().execute(context)  # waits for the answer; resumes in execute_complete

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        answer = HITLOperator.execute_complete(self, context, event)  # validates; no downstream skipping
        user = answer.get("responded_by_user") or {}
        who = f"{user.get('name') or user.get('id') or 'timeout'}"
        decision, serving = self._decision()  # the serving model may have changed while we waited
        if answer["chosen_options"] == [self.APPROVE]:
            reason = f"approved by {who}: {decision.reason}"
            return self._promote(context, reason, serving, decided_by=who)
        self._keep(f"rejected by {who}: {decision.reason}", serving, decided_by=who)
