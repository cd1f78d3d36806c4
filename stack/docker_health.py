"""Health of the docker backend (mixed into DockerStack): which checks fail, waiting until none does, and the
failure report with the log tails of the suspects."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from stack.airflow_stack import health
from stack.base import FlowerAccess
from stack.compose_project import LOG_TAIL_LINES, DockerStackError, ProjectCompose, output_tail
from stack.paths import (
    AIRFLOW_SERVICE,
    DAG_PROCESSOR_SERVICE,
    INIT_SERVICE,
    POSTGRES_SERVICE,
    SCHEDULER_SERVICE,
    TRIGGERER_SERVICE,
    WORKER_SERVICE,
)
from stack.waiting import WaitTimeout, answers, wait_until

# A database volume kept from an earlier .env: its password is not the one .env holds now.
STALE_DB_HINT = (
    "the metadata DB volume was created with another POSTGRES_PASSWORD (an earlier .env). Put that password back "
    "into .env, or drop the volume with its run history: docker compose --project-name {project} down --volumes"
)
# What a failed health check points at: the compose service whose log explains it.
HEALTH_KEY_SERVICE = {
    "metadatabase": POSTGRES_SERVICE,
    "scheduler": SCHEDULER_SERVICE,
    "triggerer": TRIGGERER_SERVICE,
    "dag_processor": DAG_PROCESSOR_SERVICE,
}


class DockerHealth:
    """Provided by DockerStack: airflow_url, _airflow_url, service_urls, flower, workers, timeout, project_name,
    compose, compose_command(), logs()."""

    compose: ProjectCompose
    flower: FlowerAccess | None
    service_urls: dict[str, str]
    workers: int
    timeout: float
    project_name: str
    progress: Callable[[str], None]

    def failing_checks(self) -> dict[str, str]:
        """compose service → what is wrong with it, for every health check that does not pass now."""
        failing: dict[str, str] = {}
        report = health(self.airflow_url)
        if report is None:
            failing[AIRFLOW_SERVICE] = f"{self.airflow_url}/api/v2/monitor/health does not answer"
        else:
            for key, service in HEALTH_KEY_SERVICE.items():
                status = (report.get(key) or {}).get("status")
                if status != "healthy":
                    failing[service] = f"Airflow health reports {key} {status!r}"
        for name, url in self.service_urls.items():
            if not answers(f"{url}/ready"):
                failing[name] = f"{url}/ready does not answer 200"
        if (listed := len(self.flower_workers())) < self.workers:
            failing[WORKER_SERVICE] = f"Flower lists {listed} of {self.workers} Celery workers"
        return failing

    def _wait_healthy(self, timeout: float) -> None:
        try:
            wait_until(lambda: not self.failing_checks(), timeout, 1.0, "the docker stack healthy")
        except WaitTimeout:
            problems = "\n".join(f"  {service}: {problem}" for service, problem in self.failing_checks().items())
            raise DockerStackError(f"not healthy after {self.timeout:.0f} s:\n{problems}") from None

    def flower_workers(self) -> dict[str, dict]:
        return self.flower.workers() if self.flower else {}

    def _failure_report(self, exc: BaseException) -> str:
        """What went wrong, with the log tails of the services that are not healthy."""
        lines = [f"docker stack (project {self.project_name}) did not come up: {exc}"]
        if isinstance(exc, subprocess.CalledProcessError):
            lines.append(f"compose said:\n{output_tail(exc.stderr) or output_tail(exc.stdout)}")
        suspects: list[str] = []
        if isinstance(exc, DockerStackError) and self._airflow_url:
            suspects += list(self.failing_checks())
        try:
            for container in self.compose.get_containers(include_all=True):
                one_shot_done = container.Service == INIT_SERVICE and container.ExitCode == 0
                if container.Health == "unhealthy" or (container.State != "running" and not one_shot_done):
                    suspects.append(container.Service or "?")
        except Exception as ps_error:
            lines.append(f"(docker compose ps failed: {ps_error})")
        tails = {service: self._log_tail(service) for service in dict.fromkeys(suspects)}
        for service, tail in tails.items():
            lines.append(f"--- docker compose logs {service} (last {LOG_TAIL_LINES} lines):\n{tail}")
        if any("password authentication failed" in tail for tail in tails.values()):
            lines.append("hint: " + STALE_DB_HINT.format(project=self.project_name))
        lines.append(f"compose command: {' '.join(self.compose_command())}")
        return "\n".join(lines)

    def _log_tail(self, service: str) -> str:
        try:
            return output_tail(self.logs(service))
        except Exception as exc:
            return f"(no logs: {exc})"
