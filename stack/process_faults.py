"""Faults on the local backend: a crash the supervisor recovers, a graceful restart, workers paused.

Mixed into LocalStack (local_stack.py), which provides `_process(component)`, `profile`, `supervisor`, `timeout` and
`_supervision_changed()` (stack.json carries the new pids).
"""

from __future__ import annotations

import time

from stack.paths import AIRFLOW_SERVICE, DAG_PROCESSOR_SERVICE, INIT_SERVICE, SCHEDULER_SERVICE, TRIGGERER_SERVICE
from stack.processes import LaunchError, ManagedProcess
from stack.profiles import CeleryProfile, worker_process_name
from stack.waiting import WaitTimeout, wait_until

# Compose service names (what tests and `Stack.logs()` use) → this backend's process names.
COMPOSE_NAMES = {
    AIRFLOW_SERVICE: "api-server",
    SCHEDULER_SERVICE: "scheduler",
    DAG_PROCESSOR_SERVICE: "dag-processor",
    TRIGGERER_SERVICE: "triggerer",
    INIT_SERVICE: "airflow-init",
}


class ProcessFaults:
    def kill_worker(self) -> None:
        """SIGKILL every Celery worker (as `docker compose kill airflow-worker` does); the supervisor restarts
        each, and this waits until every one answers a ping on the broker."""
        workers = self._workers()
        for worker in workers:
            worker.kill()
        if answering := self.profile.ping_workers():
            raise RuntimeError(f"Celery workers still answer after SIGKILL: {answering}")
        for worker in workers:
            self._wait_restarted(worker.name, old_pid=None)

    def pause_workers(self) -> None:
        for worker in self._workers():
            worker.stop()

    def resume_workers(self) -> None:
        for worker in self._workers():
            worker.start()
        for worker in self._workers():
            worker.wait_healthy(self.timeout)  # its probe: it answers a ping on the broker

    def _workers(self) -> list[ManagedProcess]:
        if not isinstance(self.profile, CeleryProfile):
            raise RuntimeError(f"profile {self.profile.name!r} has no Celery worker")
        return [self._process(worker_process_name(i)) for i in range(1, self.profile.workers + 1)]

    def crash(self, component: str) -> None:
        """SIGKILL one component with everything it started; the supervisor restarts it (compose's restart
        policy on docker). Returns once the new process serves again."""
        process = self._process(component)
        old_pid = process.pid
        process.kill()
        self._wait_restarted(component, old_pid)

    def stop_component(self, component: str) -> None:
        """Stop one component on purpose: the supervisor leaves a stopped process alone."""
        self._process(component).stop()
        self._supervision_changed()

    def start_component(self, component: str) -> None:
        process = self._process(component)
        if not process.alive():
            process.start()
        process.wait_healthy(self.timeout)
        self._supervision_changed()

    def restart(self, component: str) -> None:
        """Stop one component gracefully (its stop signal) and start it again, as `docker compose restart`."""
        process = self._process(component)
        process.stop()
        process.start()
        process.wait_healthy(self.timeout)
        self._supervision_changed()

    def restart_counts(self) -> dict[str, int]:
        """Restarts the supervisor made since up(), by compose service name where there is one."""
        compose = {local: name for name, local in COMPOSE_NAMES.items()}
        counts = self.supervisor.restarts() if self.supervisor else {}
        return {compose.get(name, name): count for name, count in counts.items()}

    def _wait_restarted(self, component: str, old_pid: int | None) -> None:
        process = self._process(component)
        started = time.monotonic()
        try:
            wait_until(lambda: process.alive() and process.pid != old_pid, self.timeout, 0.2, f"{component} restarted")
        except WaitTimeout:
            raise LaunchError(f"{component} was not restarted within {self.timeout:.0f} s") from None
        process.wait_healthy(max(1.0, self.timeout - (time.monotonic() - started)))
