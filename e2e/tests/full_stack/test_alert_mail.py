"""An alert end to end (docs/OBSERVABILITY.md): the scheduler stops, Prometheus' heartbeat rule fires, Alertmanager
mails the stack's SMTP sink — one mail for the incident. A fault test (it stops a component).

The whole incident runs on the local pass: the rule, its timing and Alertmanager's grouping are the same files on
both backends (and `promtool test rules` checks the rule in `make test`), and it waits a minute and a half for the
alert. CI's docker pass instead checks what compose adds, each hop of the path in seconds: the heartbeat reaches
Prometheus through the bridge container, Prometheus has loaded the rule and evaluates it without error, it knows
the Alertmanager container, and a firing alert posted there arrives as a mail in the sink over compose's network.
"""

from __future__ import annotations

import time

import pytest
import requests

from e2e.tests.full_stack.helpers import mails_containing, prometheus_url, wait_for_series
from stack.base import Stack
from stack.waiting import wait_until

ALERT = "AirflowSchedulerHeartbeatMissing"
# heartbeat gone from the bridge (10 s) + the rule's window and `for` + evaluation (15 s) + Alertmanager's
# group_wait (10 s) + the mail: about a minute and a half; the bound leaves room on a loaded machine.
MAIL_WITHIN_S = 240.0


def firing_mails(stack: Stack) -> list[str]:
    return [text for text in mails_containing(stack, ALERT) if text.startswith("[FIRING")]


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


@pytest.mark.docker_only
def test_on_compose_each_hop_of_the_heartbeat_alert_is_wired_up_to_the_mail_sink(stack: Stack) -> None:
    info = stack.info()
    prometheus, alertmanager = info["prometheus"]["url"], info["alertmanager"]["url"]
    wait_for_series(prometheus, "airflow_scheduler_heartbeat")  # scheduler -> StatsD -> bridge -> Prometheus

    groups = requests.get(f"{prometheus}/api/v1/rules", params={"type": "alert"}, timeout=10).json()["data"]["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert ALERT in rules, sorted(rules)
    assert rules[ALERT]["health"] == "ok", rules[ALERT]  # evaluated, and without an error
    answer = requests.get(f"{prometheus}/api/v1/alertmanagers", timeout=10).json()["data"]
    assert [a["url"] for a in answer["activeAlertmanagers"]] == ["http://alertmanager:9093/api/v2/alerts"], answer
    wait_for_series(prometheus, 'up{job="alertmanager"} == 1')  # and reaches it over compose's network

    probe = f"HssAlertPathCheck{int(time.time())}"  # not ALERT: the incident test counts those mails
    summary = "the docker pass's check of the alert path"
    posted = requests.post(
        f"{alertmanager}/api/v2/alerts",
        json=[{"labels": {"alertname": probe, "severity": "info"}, "annotations": {"summary": summary}}],
        timeout=10,
    )
    assert posted.status_code == 200, posted.text

    # group_wait (10 s) and the mail; the bound leaves room on a loaded machine
    mails = wait_until(lambda: mails_containing(stack, probe), 120, 0.5, f"the {probe} mail", raise_on_timeout=False)
    assert mails, f"no mail about {probe} within 120 s in {stack.mail_dir}"
    assert mails[0].startswith("[FIRING") and summary in mails[0], mails[0]
