"""`DockerStack`: the full stack from docker-compose.yml + docker-compose.test.yml, driven by testcontainers.

    stack = DockerStack(state_dir=tmp)     # writes nothing yet
    stack.up()                             # docker compose up --build --wait, then real health endpoints
    ...stack.airflow_url, stack.service_urls, stack.flower, stack.data_root (a host folder)…
    stack.down()                           # docker compose down --volumes, only if this object started it

Validated on this machine only by `docker-compose config` (no Docker daemon here) and by a fake compose
binary that records the commands; the calls follow testcontainers 4.15's `DockerCompose` source.

The state folder holds `compose.env` (0600: the secrets from .env.example, freshly generated, the nine
HSS_*_HOST_PORT variables set EMPTY so every port is ephemeral — docker-compose 1.29 cannot drop the base
file's ports from an overlay — HSS_TEST_DATA_DIR and COMPOSE_PROJECT_NAME) and `compose-data/`, the
data root mounted into the worker and the services (mode 0777: the containers run as uid 50000).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

from contracts.catalog import SERVICES, service_by_name
from e2e.harness.airflow_stack import health
from e2e.harness.base import FlowerAccess, Stack
from e2e.harness.compose_project import LOG_TAIL_LINES, DockerStackError, ProjectCompose, output_tail
from e2e.harness.env_file import ensure_env_file, read_env_file, update_env_file

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.test.yml")
HOST_PORT_VARS = (
    "HSS_AIRFLOW_HOST_PORT",
    "HSS_FLOWER_HOST_PORT",
    "HSS_POSTGRES_HOST_PORT",
    "HSS_REDIS_HOST_PORT",
    "HSS_AUDIO_HOST_PORT",
    "HSS_CONTENT_HOST_PORT",
    "HSS_ML_TRAINING_HOST_PORT",
    "HSS_ML_PREDICTION_HOST_PORT",
    "HSS_INTELLIGENCE_HOST_PORT",
)
TEST_API_KEY = "hss-test-api-key"  # fixed by docker-compose.test.yml
# The data root's folders, writable for the containers' uid 50000; training_data/incoming and claimed too:
# the dataset-triggered DAG moves files from one to the other, and a test creating incoming/ would make it 0755.
DATA_SUBDIRS = ("songs", "training_data", "training_data/incoming", "training_data/claimed", "models", "results")
AIRFLOW_SERVICE, AIRFLOW_PORT = "airflow-apiserver", 8080
FLOWER_SERVICE, FLOWER_PORT = "flower", 5555
WORKER_SERVICE = "airflow-worker"
# What a failed health check points at: the compose service whose log explains it.
HEALTH_KEY_SERVICE = {
    "metadatabase": "postgres",
    "scheduler": "airflow-scheduler",
    "triggerer": "airflow-triggerer",
    "dag_processor": "airflow-dag-processor",
}
# The local backend's process names, accepted here too (base.py: tests may use either).
COMPONENT_ALIASES = {
    "api-server": AIRFLOW_SERVICE,
    "scheduler": "airflow-scheduler",
    "dag-processor": "airflow-dag-processor",
    "triggerer": "airflow-triggerer",
    "worker": WORKER_SERVICE,
    "celery-worker": WORKER_SERVICE,
}


class DockerStack(Stack):
    backend = "docker"

    def __init__(
        self,
        *,
        state_dir: Path | str,
        project_name: str | None = None,
        build: bool = True,
        timeout: float = 300.0,
        compose_binary: str | None = None,
        progress: Callable[[str], None] = print,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.data_root = self.state_dir / "compose-data"
        self.env_path = self.state_dir / "compose.env"
        self.project_name = project_name or f"hss-e2e-{secrets.token_hex(4)}"
        self.timeout = timeout  # health wait after compose returns, and per restart
        self.progress = progress
        self.compose = ProjectCompose(
            context=REPO_ROOT,
            compose_file_name=list(COMPOSE_FILES),
            build=build,
            wait=True,  # `up --wait`: compose waits on the healthchecks (airflow-init is a one-shot dependency)
            env_file=[str(self.env_path)],
            docker_command_path=compose_binary,
            project_name=self.project_name,
        )
        self.api_key = TEST_API_KEY
        self.service_urls: dict[str, str] = {}
        self.flower: FlowerAccess | None = None
        self._airflow_url: str | None = None
        self._env: dict[str, str] | None = None
        self._started = False

    # --- configuration ---------------------------------------------------------------------------
    def prepare(self) -> Path:
        """Write compose.env and the data folder (idempotent); return the env file's path."""
        for sub in ("", *DATA_SUBDIRS):
            folder = self.data_root / sub
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o777)
        ensure_env_file(self.env_path, REPO_ROOT / ".env.example")
        update_env_file(
            self.env_path,
            {
                **dict.fromkeys(HOST_PORT_VARS, ""),  # empty = ephemeral host port (see docker-compose.test.yml)
                "HSS_TEST_DATA_DIR": str(self.data_root),
                "COMPOSE_PROJECT_NAME": self.project_name,
            },
            header="Test run (e2e/harness/docker_stack.py): ephemeral host ports, host data folder, own project.",
        )
        self._env = read_env_file(self.env_path)
        return self.env_path

    def env_values(self) -> dict[str, str]:
        if self._env is None:
            self.prepare()
        assert self._env is not None
        return self._env

    @property
    def username(self) -> str:
        return self.env_values().get("AIRFLOW_ADMIN_USER") or "admin"

    @property
    def password(self) -> str:
        return self.env_values()["AIRFLOW_ADMIN_PASSWORD"]

    @property
    def airflow_url(self) -> str:
        if self._airflow_url is None:
            raise RuntimeError("the docker stack is not up")
        return self._airflow_url

    def compose_command(self) -> list[str]:
        """The compose command every call starts with (files, env file); the project comes from the env."""
        return list(self.compose.compose_command_property)

    # --- lifecycle -------------------------------------------------------------------------------
    def up(self) -> DockerStack:
        """Build and start the project, wait on real health endpoints; on failure tear down and raise with logs."""
        self.prepare()
        self._started = True  # from here on, down() removes the project (also after a half start)
        try:
            self.progress(f"docker compose up --build --wait (project {self.project_name}; first build: minutes)…")
            self.compose.start()
            self._resolve_urls()
            self._wait_healthy(time.monotonic() + self.timeout)
        except Exception as exc:
            message = self._failure_report(exc)
            self._teardown_after_failure()
            raise DockerStackError(message) from exc
        except BaseException:  # Ctrl-C: still remove what was started
            self._teardown_after_failure()
            raise
        self.progress(f"docker stack ready — Airflow {self.airflow_url}")
        return self

    def down(self) -> None:
        """`docker compose down --volumes` for the project this object started; nothing otherwise."""
        if not self._started:
            return
        self._save_logs()
        try:
            self.compose.stop(down=True)
        except subprocess.CalledProcessError as exc:
            raise DockerStackError(f"docker compose down failed:\n{output_tail(exc.stderr)}") from exc
        self._started = False
        self._airflow_url, self.flower, self.service_urls = None, None, {}

    def _save_logs(self) -> None:
        """Every container's log into <state_dir>/logs/<service>.log: the containers are gone after down."""
        logs_dir = self.state_dir / "logs"
        logs_dir.mkdir(parents=True, exist_ok=True)
        for container in self.compose.get_containers(include_all=True):
            try:
                stdout, stderr = self.compose.get_logs(container.Service)
            except (subprocess.CalledProcessError, OSError) as exc:
                stdout, stderr = "", f"(could not read the log: {exc})"
            (logs_dir / f"{container.Service}.log").write_text(stdout + stderr)

    def _teardown_after_failure(self) -> None:
        try:
            self.down()
        except Exception as exc:  # keep the original error; say what is left behind
            self.progress(f"warning: could not remove project {self.project_name}: {exc}")

    # --- addresses and health ----------------------------------------------------------------------
    def _url(self, service: str, port: int) -> str:
        host, published = self.compose.get_service_host_and_port(service, port)
        if not host or host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{published}"

    def _resolve_urls(self) -> None:
        self._airflow_url = self._url(AIRFLOW_SERVICE, AIRFLOW_PORT)
        values = self.env_values()
        self.flower = FlowerAccess(
            url=self._url(FLOWER_SERVICE, FLOWER_PORT),
            username=values.get("FLOWER_USER") or "admin",
            password=values["FLOWER_PASSWORD"],
        )
        self.service_urls = {spec.name: self._url(spec.name, spec.port) for spec in SERVICES}

    def _failing_checks(self) -> dict[str, str]:
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
            if not self._answers(f"{url}/ready"):
                failing[name] = f"{url}/ready does not answer 200"
        if not self._flower_workers():
            failing[WORKER_SERVICE] = f"Flower {self.flower.url if self.flower else '?'} lists no Celery worker"
        return failing

    def _wait_healthy(self, deadline: float) -> None:
        while failing := self._failing_checks():
            if time.monotonic() > deadline:
                problems = "\n".join(f"  {service}: {problem}" for service, problem in failing.items())
                raise DockerStackError(f"not healthy after {self.timeout:.0f} s:\n{problems}")
            time.sleep(1.0)

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return requests.get(url, timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def _flower_workers(self) -> dict[str, dict]:
        """Flower's /api/workers after a live inspect (refresh=1): worker name → info with its `timestamp`."""
        if self.flower is None:
            return {}
        try:
            response = requests.get(
                f"{self.flower.url}/api/workers",
                params={"refresh": "1"},
                auth=(self.flower.username, self.flower.password),
                timeout=10,
            )
        except requests.RequestException:
            return {}
        return response.json() if response.ok else {}

    def _failure_report(self, exc: BaseException) -> str:
        """What went wrong, with the log tails of the services that are not healthy."""
        lines = [f"docker stack (project {self.project_name}) did not come up: {exc}"]
        if isinstance(exc, subprocess.CalledProcessError):
            lines.append(f"compose said:\n{output_tail(exc.stderr) or output_tail(exc.stdout)}")
        suspects: list[str] = []
        if isinstance(exc, DockerStackError) and self._airflow_url:
            suspects += list(self._failing_checks())
        try:
            for container in self.compose.get_containers(include_all=True):
                one_shot_done = container.Service == "airflow-init" and container.ExitCode == 0
                if container.Health == "unhealthy" or (container.State != "running" and not one_shot_done):
                    suspects.append(container.Service or "?")
        except Exception as ps_error:
            lines.append(f"(docker compose ps failed: {ps_error})")
        for service in dict.fromkeys(suspects):
            lines.append(f"--- docker compose logs {service} (last {LOG_TAIL_LINES} lines):\n{self._log_tail(service)}")
        lines.append(f"compose command: COMPOSE_PROJECT_NAME={self.project_name} {' '.join(self.compose_command())}")
        return "\n".join(lines)

    def _log_tail(self, service: str) -> str:
        try:
            return output_tail(self.logs(service))
        except Exception as exc:
            return f"(no logs: {exc})"

    # --- components ------------------------------------------------------------------------------
    def stop_service(self, name: str) -> None:
        service_by_name(name)  # KeyError naming the known services
        self._compose("stop", name)

    def start_service(self, name: str) -> None:
        """`docker compose start`, then wait for /ready. The URL is read again: a restarted container gets a
        new ephemeral host port, so `service_urls[name]` changes."""
        spec = service_by_name(name)
        self._compose("start", name)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                url = self._url(name, spec.port)
                if self._answers(f"{url}/ready"):
                    self.service_urls[name] = url
                    return
            except Exception:  # not running yet: no publisher
                pass
            if time.monotonic() > deadline:
                raise DockerStackError(
                    f"{name} not ready {self.timeout:.0f} s after docker compose start:\n{self._log_tail(name)}"
                )
            time.sleep(0.5)

    def kill_worker(self) -> None:
        """SIGKILL the worker container(s), start them again, wait until a worker answers Flower's inspect again.

        Flower keeps dead workers in its list, so a worker counts only when its `timestamp` (Flower's clock)
        is newer than the newest one seen a moment after the kill, when the dead worker can no longer answer.
        """
        self._compose("kill", "-s", "SIGKILL", WORKER_SERVICE)
        start_error = None
        try:
            self._compose("start", WORKER_SERVICE)
        except DockerStackError as exc:  # the restart policy may be restarting it right now
            start_error = exc
        time.sleep(2.0)  # let answers to inspects sent before the kill land in Flower first
        settled = max((info.get("timestamp", 0.0) for info in self._flower_workers().values()), default=0.0)
        deadline = time.monotonic() + self.timeout
        while not any(info.get("timestamp", 0.0) > settled for info in self._flower_workers().values()):
            if time.monotonic() > deadline:
                raise DockerStackError(
                    f"no Celery worker answered Flower {self.timeout:.0f} s after the kill"
                    f"{f' ({start_error})' if start_error else ''}:\n{self._log_tail(WORKER_SERVICE)}"
                )
            time.sleep(1.0)

    def logs(self, component: str) -> str:
        stdout, stderr = self.compose.get_logs(COMPONENT_ALIASES.get(component, component))
        return stdout + stderr

    def _compose(self, *args: str) -> None:
        try:
            self.compose.run(*args)
        except subprocess.CalledProcessError as exc:
            raise DockerStackError(f"docker compose {' '.join(args)} failed:\n{output_tail(exc.stderr)}") from exc

    # --- stack.json ------------------------------------------------------------------------------
    def info(self) -> dict:
        flower = self.flower
        return {
            "backend": self.backend,
            "profile": "compose",
            "executor": "CeleryExecutor",
            "airflow": {
                "url": self.airflow_url,
                "api": f"{self.airflow_url}/api/v2",
                "username": self.username,
                "password": self.password,
            },
            "flower": {"url": flower.url, "username": flower.username, "password": flower.password} if flower else None,
            "services": dict(self.service_urls),
            "api_key": self.api_key,
            "data_root": str(self.data_root),
            "compose": {
                "project": self.project_name,
                "env_file": str(self.env_path),
                "command": self.compose_command(),
            },
        }
