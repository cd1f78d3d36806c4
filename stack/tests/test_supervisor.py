"""The local launcher's supervisor: a dead process comes back with back-off; stopped ones and one-shots stay down;
a crash loop is reported."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from stack import supervisor as sup
from stack import waiting
from stack.processes import ManagedProcess, ProcessGroup
from stack.supervisor import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]


def wait_until(condition, timeout: float = 15.0) -> None:
    waiting.wait_until(condition, timeout, 0.05, "the supervisor's condition")


@pytest.fixture
def group(tmp_path: Path):
    with ProcessGroup() as processes:
        yield processes


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sup, "RESTART_DELAY_S", 0.1)
    monkeypatch.setattr(sup, "MAX_DELAY_S", 0.4)
    monkeypatch.setattr(sup, "STABLE_AFTER_S", 3.0)  # well above a Python start on a busy machine


def start(group: ProcessGroup, tmp_path: Path, name: str, argv: list[str], **kw) -> ManagedProcess:
    return group.start(ManagedProcess(name, argv, tmp_path / f"{name}.log", **kw))


def test_a_killed_process_is_restarted_and_counted(group: ProcessGroup, tmp_path: Path) -> None:
    process = start(group, tmp_path, "scheduler", SLEEPER)
    changes: list[str] = []
    lines: list[str] = []
    supervisor = Supervisor(group, on_change=lambda: changes.append("x"), say=lines.append, poll=0.05).start()
    try:
        first = process.pid
        process.kill()
        wait_until(lambda: process.alive() and process.pid != first)
        assert supervisor.restarts() == {"scheduler": 1}
        report = supervisor.report()["scheduler"]
        assert report["state"] == "running" and report["last_exit"] == -9 and not report["crash_loop"]
        assert any("scheduler exited (code -9)" in line for line in lines), lines
        assert len(changes) == 2  # noticed, restarted: stack.json is rewritten with the new pid each time
    finally:
        supervisor.stop()


def test_stopped_on_purpose_and_one_shots_stay_down(group: ProcessGroup, tmp_path: Path) -> None:
    stopped = start(group, tmp_path, "workflow-audio", SLEEPER)
    one_shot = start(group, tmp_path, "airflow-init", CRASHER, restart="no")
    supervisor = Supervisor(group, say=lambda _: None, poll=0.05).start()
    try:
        stopped.stop()
        time.sleep(1.0)
        assert not stopped.alive() and not one_shot.alive()
        assert supervisor.restarts() == {"workflow-audio": 0, "airflow-init": 0}
        assert supervisor.report()["workflow-audio"]["state"] == "stopped"
        assert supervisor.report()["airflow-init"]["state"] == "failed (exit 3)"  # a one-shot: not restarted
        stopped.start()  # `docker compose start`: supervised again
        first = stopped.pid
        stopped.kill()
        wait_until(lambda: stopped.alive() and stopped.pid != first)
    finally:
        supervisor.stop()


def test_a_crash_loop_backs_off_and_is_reported(group: ProcessGroup, tmp_path: Path) -> None:
    start(group, tmp_path, "triggerer", CRASHER)
    lines: list[str] = []
    supervisor = Supervisor(group, say=lines.append, poll=0.02).start()
    try:
        wait_until(lambda: supervisor.restarts()["triggerer"] >= sup.CRASH_LOOP_RESTARTS, timeout=20)
        report = supervisor.report()["triggerer"]
        assert report["crash_loop"] and "crash loop" in report["state"] and report["last_exit"] == 3
        assert any("crash loop" in line for line in lines), lines
    finally:
        supervisor.stop()
    delays = [sup.Supervision(failures_in_a_row=n).delay() for n in range(1, 6)]
    assert delays == [0.1, 0.2, 0.4, 0.4, 0.4]  # doubling, capped


def test_a_process_that_stays_up_starts_over_from_the_short_delay(group: ProcessGroup, tmp_path: Path) -> None:
    process = start(group, tmp_path, "api-server", SLEEPER)
    supervisor = Supervisor(group, say=lambda _: None, poll=0.05).start()
    try:
        for _ in range(3):
            first = process.pid
            process.kill()
            wait_until(lambda first=first: process.alive() and process.pid != first)
        assert supervisor.records["api-server"].failures_in_a_row == 3
        wait_until(lambda: supervisor.records["api-server"].failures_in_a_row == 0, timeout=10)
    finally:
        supervisor.stop()
