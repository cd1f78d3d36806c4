"""Infrastructure faults on the docker backend: a crash the restart policy recovers, a graceful restart.

`crash()` SIGKILLs the container's main process from the host (what an OOM kill or a segfault does).
`docker kill` would not do: Docker counts a killed container as stopped by hand and its
`restart: unless-stopped` policy would leave it down. Without root (the process belongs to root),
it falls back to `docker compose kill` + `start`, and says so.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import docker

from stack.compose_project import DockerStackError, ProjectCompose
from stack.docker_api import inspect_containers
from stack.paths import WORKER_SERVICE
from stack.waiting import WaitTimeout, wait_until


class ContainerFaults:
    """Mixed into DockerStack, which provides these and _compose(), _resolve_urls(), failing_checks(),
    _service_name(), flower_workers(), _log_tail()."""

    compose: ProjectCompose
    timeout: float
    workers: int
    progress: Callable[[str], None]

    def kill_worker(self) -> None:
        """SIGKILL the worker container(s), start them again, wait until every worker answers Flower's inspect."""
        self._compose("kill", "-s", "SIGKILL", WORKER_SERVICE)
        start_error = None
        try:
            self._compose("start", WORKER_SERVICE)
        except DockerStackError as exc:  # the restart policy may be restarting it right now
            start_error = exc
        self._wait_fresh_workers(start_error)

    def pause_workers(self) -> None:
        self._compose("stop", WORKER_SERVICE)

    def resume_workers(self) -> None:
        self._compose("start", WORKER_SERVICE)
        self._wait_fresh_workers()

    def _wait_fresh_workers(self, start_error: Exception | None = None) -> None:
        """Wait until every worker answers Flower's inspect after a stop or kill.

        Flower keeps dead workers in its list, so a worker counts only when its `timestamp` (Flower's clock)
        is newer than the newest one seen a moment after the kill, when the dead workers can no longer answer.
        """
        time.sleep(2.0)  # let answers to inspects sent before the kill land in Flower first
        settled = max((info.get("timestamp", 0.0) for info in self.flower_workers().values()), default=0.0)

        def fresh() -> int:
            return sum(info.get("timestamp", 0.0) > settled for info in self.flower_workers().values())

        try:
            wait_until(lambda: fresh() >= self.workers, self.timeout, 1.0, "every Celery worker answering Flower")
        except WaitTimeout:
            raise DockerStackError(
                f"{fresh()} of {self.workers} Celery workers answered Flower {self.timeout:.0f} s after the kill"
                f"{f' ({start_error})' if start_error else ''}:\n{self._log_tail(WORKER_SERVICE)}"
            ) from None

    def crash(self, component: str) -> None:
        """SIGKILL the component's container process(es) — "workflow-audio-2": its second replica's only, as
        compose names that container and the local backend that process; wait until the restart policy brought
        them back and the whole stack is healthy again."""
        service, replica = self._replica_of(component)
        before = self._inspect(service)
        if replica:
            before = [c for c in before if c["Name"].lstrip("/").endswith(f"-{service}-{replica}")]
            if not before:
                raise KeyError(f"no replica {replica} of {service} runs")
        if os.geteuid() == 0:
            for container in before:
                os.kill(container["State"]["Pid"], signal.SIGKILL)
        else:
            self.progress(f"not root: `docker compose kill {service}` + start instead of a crash of its process")
            self._compose("kill", "-s", "SIGKILL", service)
            self._compose("start", service)
        started = {c["Id"]: c["State"]["StartedAt"] for c in before}
        self._wait_back(service, lambda c: c["State"]["Running"] and c["State"]["StartedAt"] != started.get(c["Id"]))

    def stop_component(self, component: str) -> None:
        """`docker compose stop <service>`: the restart policy leaves a stopped container alone."""
        self._compose("stop", self._service_name(component))

    def start_component(self, component: str) -> None:
        service = self._service_name(component)
        self._compose("start", service)
        self._wait_back(service, lambda c: c["State"]["Running"])

    def restart(self, component: str) -> None:
        """`docker compose restart <service>` (SIGTERM, then start), then wait until the stack is healthy."""
        service = self._service_name(component)
        self._compose("restart", service)
        self._wait_back(service, lambda c: c["State"]["Running"])

    def restart_counts(self) -> dict[str, int]:
        """Restarts by the restart policy, per compose service (summed over a scaled service's containers)."""
        counts: dict[str, int] = {}
        for container in self._inspect():
            service = container["Config"]["Labels"].get("com.docker.compose.service", "?")
            counts[service] = counts.get(service, 0) + int(container.get("RestartCount", 0))
        return counts

    def container_restarts(self) -> dict[str, int]:
        """Container name → its restarts by the restart policy (`make status`)."""
        return {c["Name"].lstrip("/"): int(c.get("RestartCount", 0)) for c in self._inspect()}

    def _replica_of(self, component: str) -> tuple[str, int | None]:
        """(service, replica number) of "<service>-<n>" when <service> is one of the project's; else (service, None)."""
        service = self._service_name(component)
        base, _, number = service.rpartition("-")
        if number.isdigit():
            services = {c.Service for c in self.compose.get_containers(include_all=True)}
            if base in services and service not in services:
                return base, int(number)
        return service, None

    def _inspect(self, service: str | None = None) -> list[dict]:
        names = [
            c.Name for c in self.compose.get_containers(include_all=True) if c.Name and service in (None, c.Service)
        ]
        try:
            return inspect_containers(names)
        except docker.errors.DockerException as exc:
            raise DockerStackError(f"docker inspect failed: {exc}") from exc

    def _wait_back(self, service: str, is_back: Callable[[dict], bool]) -> None:
        def back() -> bool:
            containers = self._inspect(service)
            if not containers or not all(is_back(c) for c in containers):
                return False
            try:
                self._resolve_urls()  # a restarted container may publish on a new ephemeral host port
                return not self.failing_checks()
            except Exception:  # not publishing yet
                return False

        try:
            wait_until(back, self.timeout, 1.0, f"{service} back")
        except WaitTimeout:
            states = {c["Name"]: c["State"]["Status"] for c in self._inspect(service)}
            failing = self.failing_checks()
            raise DockerStackError(
                f"{service} not back {self.timeout:.0f} s after the fault: {states}; {failing}"
            ) from None
