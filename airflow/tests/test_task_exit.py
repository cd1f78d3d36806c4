"""hss_airflow.task_exit: a task supervisor is woken by its task process's exit, not by its next look."""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.execution_time import supervisor

from hss_airflow.task_exit import ExitWatchingSubprocess, ProcessExit, watch_exit


def child_exiting_after(seconds: float) -> int:
    pid = os.fork()
    if pid == 0:  # the child: no pytest teardown, no buffered output
        time.sleep(seconds)
        os._exit(0)
    return pid


def test_a_process_exit_ends_the_supervisors_wait_at_once() -> None:
    selector = selectors.DefaultSelector()
    pid = child_exiting_after(0.3)
    try:
        exit_fd = watch_exit(selector, pid)
        assert exit_fd is not None
        started = time.monotonic()
        events = selector.select(timeout=10)  # Airflow's supervisor: nothing else left to wait on
        waited = time.monotonic() - started
        assert len(events) == 1 and 0.2 < waited < 5, waited  # woken by the exit, not by the timeout
        key, _ = events[0]
        exited, on_close = key.data  # the supervisor's (handler, on_close) form
        assert exited(key.fileobj) is False  # nothing to read: unregister and close it
        on_close(key.fileobj)
        number = exit_fd.fileno()
        key.fileobj.close()
        assert selector.get_map() == {}
        with pytest.raises(OSError):
            os.fstat(number)
    finally:
        os.waitpid(pid, 0)
        selector.close()


def test_without_a_pidfd_the_exit_is_left_to_airflows_own_look(monkeypatch: pytest.MonkeyPatch) -> None:
    selector = selectors.DefaultSelector()
    pid = child_exiting_after(0)
    os.waitpid(pid, 0)  # reaped: no process to open
    assert watch_exit(selector, pid) is None
    monkeypatch.delattr(os, "pidfd_open")  # not Linux
    assert watch_exit(selector, os.getpid()) is None
    assert selector.get_map() == {}
    selector.close()


def test_the_pidfd_is_closed_once_however_often_it_is_asked() -> None:
    read, write = os.pipe()
    os.close(write)
    exit_fd = ProcessExit(read)
    exit_fd.close()
    exit_fd.close()  # the supervisor closed it, then the end of its wait: no second os.close of a reused number
    assert exit_fd.fileno() == -1
    with pytest.raises(OSError):
        os.fstat(read)


def test_the_workers_preload_makes_it_the_supervisor_airflow_starts(
    fresh_python: Callable[..., Any], task_process_env: dict[str, str]
) -> None:
    # Airflow's task coordinator imports supervisor.ActivitySubprocess at each task: after the preload (the Celery
    # worker's, make demo's LocalExecutor's), that name is the exit-watching subclass.
    code = (
        "import json\n"
        "from hss_airflow.preload import import_preloaded\n"
        "import_preloaded()\n"
        "from airflow.sdk.execution_time import supervisor\n"
        "from airflow.sdk.execution_time.supervisor import ActivitySubprocess\n"
        "print(json.dumps([ActivitySubprocess.__module__, ActivitySubprocess.__name__,\n"
        "                  issubclass(ActivitySubprocess, supervisor.WatchedSubprocess)]))\n"
    )
    assert fresh_python(code, env=task_process_env) == ["hss_airflow.task_exit", "ExitWatchingSubprocess", True]


class HeartbeatClient:
    def __init__(self) -> None:
        self.heartbeats: list[str] = []
        self.task_instances = self

    def heartbeat(self, ti_id: str, pid: int) -> None:
        self.heartbeats.append(ti_id)


def test_the_first_heartbeat_comes_an_interval_after_the_start_not_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # PATCH …/run (Airflow's _on_child_started, stubbed here) wrote last_heartbeat_at; Airflow's supervisor then
    # heartbeat again at its first look. Ours waits the interval, as between any two heartbeats.
    started: list[dict] = []
    # Airflow's class by our base: after install() (the preload, in this process too), supervisor.ActivitySubprocess
    # names ours, and patching it would replace the method under test.
    (airflow_supervisor,) = ExitWatchingSubprocess.__bases__
    monkeypatch.setattr(airflow_supervisor, "_on_child_started", lambda self, **kw: started.append(kw))
    client = HeartbeatClient()
    sub = ExitWatchingSubprocess(
        id="ti-1",
        pid=os.getpid(),
        stdin=None,
        process=SimpleNamespace(pid=os.getpid()),
        process_log=None,
        client=client,  # type: ignore[arg-type]
    )
    try:
        sub._on_child_started(ti="the task")
        assert started == [{"ti": "the task"}]
        sub._send_heartbeat_if_needed()
        assert client.heartbeats == []
        sub._last_heartbeat_attempt -= supervisor.MIN_HEARTBEAT_INTERVAL + 0.1  # an interval later
        sub._send_heartbeat_if_needed()
        assert client.heartbeats == ["ti-1"]
    finally:
        if sub._exit_watch is not None:
            sub._exit_watch.close()
