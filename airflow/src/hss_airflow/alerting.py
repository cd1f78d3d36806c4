"""Failure and deadline mails of the HSS DAGs, through Airflow's SMTP notifier (apache-airflow-providers-smtp).

- Every task of every HSS DAG has `on_failure_callback=task_failure_notifier()` (dag_defaults.DEFAULT_ARGS): when
  a task fails for good (after its retries), one mail names the DAG, the run, the task, the try, the error
  line and the link to the task's log in the UI.
- comprehensive_analysis carries `analysis_deadlines()`: when a run is not done HSS_ANALYSIS_DEADLINE_S after it
  was queued, the triggerer sends one mail saying so (`mail_late_run`). Every stack sets the variable (600 s
  unless told otherwise). Where it is unset (a bare `dag.test()`), the DAG has no deadline: Airflow 3.3.2's
  dag.test() hands the scheduler's success step the alert itself where a deployed DAG has the alert's id,
  and the run ends in `'dict' object has no attribute 'hex'`. Airflow counts a run that failed before
  its deadline as late too (it drops deadlines on success only); that run had its failure mail, so it gets no
  second one.

The SMTP server is the Airflow connection `smtp_default` (AIRFLOW_CONN_SMTP_DEFAULT): the stacks point it at
their SMTP sink; a real relay is the same variable with its host, port, login and TLS settings. Recipients
and sender come from hss_airflow.settings (HSS_ALERT_TO, HSS_ALERT_FROM). The log link is built from
Airflow's `[api] base_url` (AIRFLOW__API__BASE_URL).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from hss_airflow.settings import settings

SMTP_CONN_ID = "smtp_default"

FAILURE_SUBJECT = "[hss] {{ ti.dag_id }}: task {{ ti.task_id }} failed (try {{ ti.try_number }})"
# Plain lines inside <pre>: a mail client shows them as they are, and the tests read them back.
FAILURE_BODY = """<pre>
DAG: {{ ti.dag_id }}
Run: {{ run_id }}
Task: {{ ti.task_id }}{% if ti.map_index is not none and ti.map_index >= 0 %} [{{ ti.map_index }}]{% endif %}
Try: {{ ti.try_number }}
Error: {{ (exception | string).strip().splitlines() | first | default('(no message)') | e }}
Log: {{ ti.log_url }}
</pre>"""

DEADLINE_SUBJECT = "[hss] {{ dag_run.dag_id }}: run {{ dag_run.dag_run_id }} missed its deadline"
# The deadline context is what the scheduler sends the triggerer: the run as the REST API shows it, the deadline.
DEADLINE_BODY = """<pre>
DAG: {{ dag_run.dag_id }}
Run: {{ dag_run.dag_run_id }}
Deadline: {{ deadline.deadline_time }} ({{ params_deadline_s }} s after the run was queued)
The run was not finished by then (state then: {{ dag_run.state }}).
</pre>"""


class TaskFailureNotifier(SmtpNotifier):
    """Airflow's SmtpNotifier, rendering a copy of itself per failure.

    default_args hand one instance to every task, and a notifier renders its templates in place: without the
    copy, a second failure in the same process (dag.test(), a test session) would mail the first one's text."""

    def __call__(self, *args: object) -> None:
        SmtpNotifier.__call__(copy.copy(self), *args)


def task_failure_notifier() -> SmtpNotifier:
    """The on_failure_callback of every HSS task: one mail per task that failed for good."""
    config = settings()
    return TaskFailureNotifier(
        to=list(config.alert_to),
        from_email=config.alert_from,
        smtp_conn_id=SMTP_CONN_ID,
        subject=FAILURE_SUBJECT,
        html_content=FAILURE_BODY,
    )


def analysis_deadlines() -> list[DeadlineAlert]:
    """comprehensive_analysis is late HSS_ANALYSIS_DEADLINE_S after a run was queued: one mail, from the triggerer.

    No deadline when the variable is unset (see the module's docstring)."""
    config = settings()
    seconds = config.analysis_deadline_s
    if seconds is None:
        return []
    alert = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=seconds),
        callback=AsyncCallback(
            mail_late_run,
            kwargs={
                "to": list(config.alert_to),
                "from_email": config.alert_from,
                "smtp_conn_id": SMTP_CONN_ID,
                "subject": DEADLINE_SUBJECT,
                "html_content": DEADLINE_BODY.replace("{{ params_deadline_s }}", f"{seconds:g}"),
            },
        ),
    )
    return [alert]


async def mail_late_run(*, context: dict[str, Any], **smtp_kwargs: Any) -> str:
    """The deadline callback, in the triggerer: SmtpNotifier's mail about a late run, unless it failed already."""
    run = context.get("dag_run") or {}
    if run.get("state") == "failed":
        return f"no deadline mail for {run.get('dag_run_id')}: it failed before its deadline (its failure mail went)"
    await SmtpNotifier(**smtp_kwargs, context=context)
    return f"deadline mail sent for {run.get('dag_run_id')}"
