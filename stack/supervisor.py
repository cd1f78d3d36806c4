"""The local stack's `restart: unless-stopped`: a thread that restarts a process that died, with back-off.

    supervisor = Supervisor(group, on_change=write_stack_file, say=print).start()
    supervisor.report()     # {name: {"restarts", "state", "last_exit", "pid"}} → stack.json "supervision"
    supervisor.stop()       # before the stack stops its processes

It follows Docker's restart policy: the delay before a restart doubles from RESTART_DELAY_S (capped at
MAX_DELAY_S) and drops back once the process stayed up STABLE_AFTER_S. A process stopped on purpose
(ManagedProcess.stop) stays down; a one-shot (`restart="no"`) is never restarted. A process that
died CRASH_LOOP_RESTARTS times in a row without staying up is reported as "crash loop" (and still
retried at the capped delay, as compose does) — in the launcher's log, stack.json and `make status`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from stack.processes import ManagedProcess, ProcessGroup

RESTART_DELAY_S = 0.5
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 10.0
CRASH_LOOP_RESTARTS = 5
POLL_S = 0.5


@dataclass
class Supervision:
    """What the supervisor knows about one process."""

    restarts: int = 0
    failures_in_a_row: int = 0  # deaths since it last stayed up STABLE_AFTER_S
    started_at: float = 0.0
    restart_at: float | None = None  # when a pending restart is due
    last_exit: int | None = None

    @property
    def crash_loop(self) -> bool:
        return self.failures_in_a_row >= CRASH_LOOP_RESTARTS

    def delay(self) -> float:
        return min(MAX_DELAY_S, RESTART_DELAY_S * 2 ** max(0, self.failures_in_a_row - 1))


def state_of(process: ManagedProcess, record: Supervision) -> str:
    if process.restart == "no" and not process.alive():
        return "done" if process.exit_code == 0 else f"failed (exit {process.exit_code})"
    loop = "crash loop: " if record.crash_loop else ""
    if process.alive():
        return f"{loop}running"
    if process.stopped:
        return "stopped"
    if record.restart_at is not None:
        wait = max(0.0, record.restart_at - time.monotonic())
        return f"{loop}exited ({record.last_exit}), restart in {wait:.0f} s"
    return f"{loop}exited ({process.exit_code}), restarting"


class Supervisor:
    def __init__(
        self,
        group: ProcessGroup,
        *,
        on_change: Callable[[], object] = lambda: None,
        say: Callable[[str], None] = print,
        poll: float = POLL_S,
    ) -> None:
        self.group = group
        self.on_change = on_change  # called after each restart (the pid changed: rewrite stack.json)
        self.say = say
        self.poll = poll
        self.records: dict[str, Supervision] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def start(self) -> Supervisor:
        now = time.monotonic()
        for process in self.group.processes:
            self.records.setdefault(process.name, Supervision(started_at=now))
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def restarts(self) -> dict[str, int]:
        return {name: record.restarts for name, record in self.records.items()}

    def report(self) -> dict[str, dict]:
        return {
            process.name: {
                "restarts": record.restarts,
                "state": state_of(process, record),
                "crash_loop": record.crash_loop,
                "last_exit": record.last_exit,
                "pid": process.pid,
            }
            for process in self.group.processes
            if (record := self.records.get(process.name)) is not None
        }

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            for process in list(self.group.processes):
                try:
                    self.check(process)
                except Exception as exc:  # one bad restart must not end supervision of the rest
                    self.say(f"supervisor: {process.name}: {type(exc).__name__}: {exc}")

    def check(self, process: ManagedProcess) -> None:
        """One supervision step for `process` (the thread calls it every `poll` seconds)."""
        record = self.records.setdefault(process.name, Supervision(started_at=time.monotonic()))
        with process.lock:
            if process.restart != "unless-stopped" or process.stopped:
                record.restart_at = None
                return
            now = time.monotonic()
            if process.alive():
                if record.failures_in_a_row and now - record.started_at >= STABLE_AFTER_S:
                    record.failures_in_a_row = 0  # it stayed up: the next death starts from the short delay
                return
            if record.restart_at is None:  # just noticed the death
                record.last_exit = process.exit_code
                record.failures_in_a_row += 1
                delay = record.delay()
                record.restart_at = now + delay
                loop = " — crash loop" if record.crash_loop else ""
                self.say(
                    f"supervisor: {process.name} exited (code {record.last_exit}){loop}; restart "
                    f"{record.restarts + 1} in {delay:.1f} s (log {process.log_path})"
                )
                self.on_change()
                return
            if now < record.restart_at:
                return
            process.start()
            record.restarts += 1
            record.started_at = time.monotonic()
            record.restart_at = None
        self.say(f"supervisor: restarted {process.name} (pid {process.pid}, restart {record.restarts})")
        self.on_change()
