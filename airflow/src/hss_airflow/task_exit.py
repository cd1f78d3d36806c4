"""The task supervisor notices its task process's exit at once, so heartbeats can stay at Airflow's 5 s.

Airflow 3.3's supervisor waits in `select()` on the task process's sockets and looks for the process's exit after
each wake. A task closes its sockets a moment before its process can be reaped; the supervisor then has nothing
left to wait on and sleeps until its next look, up to `[workers] min_heartbeat_interval` (5 s), keeping the
task's Celery slot (or the LocalExecutor's worker) all that time: 169 of 278 tasks of a local full-stack pass
kept theirs 5 s. The stacks had set that interval to 1 s to shorten the wait, which made every running task
send a heartbeat every second: 908 heartbeats, 25.7 s of api-server time in one `make bench` (2026-12-07);
355 and 10.1 s in the next, with this module and the interval back at 5 s (docs/PERFORMANCE.md).

This subclass adds a pidfd (Linux ≥ 5.3: a file descriptor that becomes readable when the process exits) to
the supervisor's selector, so the exit ends the wait at once whatever the interval. `install()` makes it the
class Airflow's task coordinator starts (it looks `supervisor.ActivitySubprocess` up at each task); the
processes that fork the tasks call it with the rest of the preload (hss_airflow.task_warm_up). Without
`os.pidfd_open` (not Linux) nothing changes but the slot is held up to the interval, as in Airflow.

It also skips the heartbeat Airflow sends right after the start: `PATCH …/run` has just written the task's
`last_heartbeat_at`, and Airflow leaves the supervisor's last attempt at 0, so every task sent a second one at
once, beside its task process's start-up on the same cores and the same api-server. The first heartbeat now comes
an interval after the start, as every later one does; a task shorter than that sends none. Probe pairs on a local
celery stack (10 comprehensive_analysis runs each, 2026-12-07): the three light tasks 519 → 414 and 431 → 383 ms.
"""

from __future__ import annotations

import os
import selectors
import time
from typing import Any

import attrs
from airflow.sdk.execution_time import supervisor


class ProcessExit:
    """A pidfd in a supervisor's selector: readable once the process exited, closed with the other channels."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def watch_exit(selector: selectors.BaseSelector, pid: int) -> ProcessExit | None:
    """Register `pid`'s exit in `selector`, in the supervisor's (handler, on_close) form; None where the OS has no
    pidfd or the process is already gone (its exit is then found by the supervisor's own look)."""
    try:
        exit_fd = ProcessExit(os.pidfd_open(pid))
    except (AttributeError, OSError):
        return None

    def exited(_: Any) -> bool:
        return False  # nothing to read: the supervisor unregisters and closes it, then reaps the process

    def on_close(fileobj: Any) -> None:
        selector.unregister(fileobj)

    selector.register(exit_fd, selectors.EVENT_READ, (exited, on_close))
    return exit_fd


@attrs.define(kw_only=True)
class ExitWatchingSubprocess(supervisor.ActivitySubprocess):
    """Airflow's task supervisor, woken by its task process's exit."""

    _exit_watch: ProcessExit | None = attrs.field(default=None, init=False, repr=False)

    def _on_child_started(self, **kwargs: Any) -> None:
        self._exit_watch = watch_exit(self.selector, self.pid)
        super()._on_child_started(**kwargs)
        self._last_heartbeat_attempt = time.monotonic()  # the start was the heartbeat: next one an interval on

    def wait(self) -> int:
        try:
            return super().wait()
        finally:
            # An exit found by the supervisor's own look leaves the pidfd open, and a Celery pool process
            # supervises task after task: it must not keep one per task.
            if self._exit_watch is not None:
                self._exit_watch.close()


def install() -> None:
    supervisor.ActivitySubprocess = ExitWatchingSubprocess
