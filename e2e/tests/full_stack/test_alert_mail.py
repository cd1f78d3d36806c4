"""An alert end to end (docs/OBSERVABILITY.md): the scheduler stops, Prometheus' heartbeat rule fires, Alertmanager
mails the stack's SMTP sink — one mail for the incident. Both backends; a fault test (it stops a component)."""

from __future__ import annotations

import time

import pytest

from e2e.tests.full_stack.helpers import prometheus_url, wait_for_series
from stack.base import Stack
from stack.mail import mail_text, read_mails
from stack.waiting import wait_until

pytestmark = pytest.mark.both_backends  # CI's docker pass runs these again

ALERT = "AirflowSchedulerHeartbeatMissing"
# heartbeat gone from the bridge (10 s) + the rule's window and `for` + evaluation (15 s) + Alertmanager's
# group_wait (10 s) + the mail: about a minute and a half; the bound leaves room on a loaded machine.
MAIL_WITHIN_S = 240.0


def firing_mails(stack: Stack) -> list[str]:
    texts = map(mail_text, read_mails(stack.mail_dir))
    return [text for text in texts if ALERT in text and text.startswith("[FIRING")]


def test_a_stopped_scheduler_fires_the_heartbeat_alert_and_one_mail_reaches_the_sink(stack: Stack) -> None:
    wait_for_series(prometheus_url(stack), "airflow_scheduler_heartbeat")  # the rule has something to miss
    earlier = len(firing_mails(stack))  # an earlier fault test may have made the scheduler miss beats too
    stack.stop_component("airflow-scheduler")
    stopped = time.monotonic()
    try:
        arrived = wait_until(
            lambda: len(firing_mails(stack)) > earlier, MAIL_WITHIN_S, 1.0, "alert mail", raise_on_timeout=False
        )
        waited = time.monotonic() - stopped
        time.sleep(20)  # another evaluation round and group_wait: a second mail for the incident would show now
        mails = firing_mails(stack)[earlier:]
    finally:
        stack.start_component("airflow-scheduler")
    print(f"{ALERT}: mail {waited:.0f} s after the scheduler stopped")
    assert arrived, f"no {ALERT} mail within {MAIL_WITHIN_S:.0f} s in {stack.mail_dir}"
    assert len(mails) == 1, mails  # grouped: one incident, one mail
    assert "has sent no heartbeat" in mails[0] and "make status" in mails[0], mails[0]
