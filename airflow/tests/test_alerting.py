"""hss_airflow.alerting: a task that fails for good sends one mail through Airflow's SMTP notifier, here to the
stack's own SMTP sink (docker/mail_sink.py, a real process), with what a person needs to act on it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk._shared.module_loading import import_string
from airflow.sdk.exceptions import AirflowFailException

from hss_airflow.alerting import analysis_deadlines, mail_late_run, task_failure_notifier
from hss_airflow.settings import AirflowSettings
from stack.mail import mail_text, read_mails, smtp_connection_env, start_mail_sink
from stack.processes import ProcessGroup

UI = "http://ui.example:8080"


@pytest.fixture
def mail_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The SMTP sink as a process; smtp_default and the alert settings point at it."""
    folder = tmp_path / "mail"
    with ProcessGroup() as group:
        port = start_mail_sink(group, folder, tmp_path / "logs", fixed_ports=False, timeout=30)
        for key, value in smtp_connection_env("127.0.0.1", port).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", UI)
        monkeypatch.setenv("HSS_ALERT_TO", "oncall@example.com, data@example.com")
        yield folder


def failure_context(task_id: str, error: str, try_number: int = 1) -> dict:
    """What the task runner hands on_failure_callback: the task instance, the run id, the exception."""
    ti = SimpleNamespace(
        dag_id="hss_alert_probe",
        task_id=task_id,
        try_number=try_number,
        map_index=-1,
        log_url=f"{UI}/dags/hss_alert_probe/runs/manual__1/tasks/{task_id}?try_number={try_number}",
    )
    return {"ti": ti, "run_id": "manual__1", "exception": AirflowFailException(error)}


def test_a_failure_sends_one_mail_naming_run_task_try_error_and_log(mail_dir: Path) -> None:
    notifier = task_failure_notifier()
    notifier(failure_context("refused", "HTTP 422 not_audio: 'songs/x.wav' is not audio\nthe second line stays out"))

    [message] = read_mails(mail_dir)
    assert message["To"] == "oncall@example.com, data@example.com"
    text = mail_text(message)
    assert "hss_alert_probe: task refused failed (try 1)" in text
    for line in ("DAG: hss_alert_probe", "Run: manual__1", "Task: refused", "Try: 1"):
        assert line in text, text
    assert "Error: HTTP 422 not_audio: 'songs/x.wav' is not audio\n" in text and "second line" not in text
    assert f"Log: {UI}/dags/hss_alert_probe/runs/manual__1/tasks/refused?try_number=1" in text


def test_one_notifier_serves_every_task_each_mail_its_own(mail_dir: Path) -> None:
    notifier = task_failure_notifier()  # default_args give the same instance to every task
    notifier(failure_context("first", "HTTP 404 file_not_found: no file"))
    notifier(failure_context("second", "HTTP 422 not_audio: not audio", try_number=3))

    first, second = (mail_text(m) for m in read_mails(mail_dir))
    assert "task first failed (try 1)" in first and "file_not_found" in first
    assert "task second failed (try 3)" in second and "not_audio" in second and "first" not in second


def deadline_context(state: str) -> dict:
    """What the scheduler sends the triggerer for a missed deadline: the run as the REST API shows it."""
    run = {"dag_id": "comprehensive_analysis", "dag_run_id": "manual__late", "state": state}
    return {"dag_run": run, "deadline": {"id": "d-1", "deadline_time": "2026-12-01T12:00:00+00:00"}}


def test_a_late_run_gets_one_deadline_mail(mail_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSS_ANALYSIS_DEADLINE_S", "30")
    [alert] = analysis_deadlines()
    callback = alert.callback
    assert import_string(callback.path) is mail_late_run  # what the triggerer will import

    said = asyncio.run(mail_late_run(context=deadline_context("running"), **callback.kwargs))

    [message] = read_mails(mail_dir)
    text = mail_text(message)
    assert "comprehensive_analysis: run manual__late missed its deadline" in text
    assert "Run: manual__late" in text and "(30 s after the run was queued)" in text and "state then: running" in text
    assert said == "deadline mail sent for manual__late"


def test_a_run_that_failed_before_its_deadline_gets_no_second_mail(
    mail_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSS_ANALYSIS_DEADLINE_S", "30")
    [alert] = analysis_deadlines()
    said = asyncio.run(mail_late_run(context=deadline_context("failed"), **alert.callback.kwargs))
    assert read_mails(mail_dir) == [] and "failed before its deadline" in said


def test_the_deadline_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSS_ANALYSIS_DEADLINE_S", "45")
    [alert] = analysis_deadlines()
    assert alert.interval.total_seconds() == 45
    assert alert.callback.kwargs["to"] == list(AirflowSettings.from_env({}).alert_to)
    assert "(45 s after the run was queued)" in alert.callback.kwargs["html_content"]


def test_unset_means_no_deadline_so_dag_test_can_run_the_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HSS_ANALYSIS_DEADLINE_S", raising=False)
    assert analysis_deadlines() == []


@pytest.mark.parametrize("raw", ["0", "-5", "soon", "inf"])
def test_a_deadline_that_is_not_a_positive_number_is_refused_by_name(raw: str) -> None:
    with pytest.raises(ValueError, match="HSS_ANALYSIS_DEADLINE_S"):
        AirflowSettings.from_env({"HSS_ANALYSIS_DEADLINE_S": raw})
