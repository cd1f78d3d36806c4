"""`DockerStack`: the full stack from docker-compose.yml (+ docker-compose.test.yml), driven by testcontainers.

    stack = DockerStack(state_dir=tmp, workers=2)       # a test run: own project, env file, ports, data folder
    stack = DockerStack(state_dir=".stack", env_file=".env", workers=3)   # `make up`: the seed's ports
    stack.up()     # base images checked, images built from uv.lock, `up --wait --scale airflow-worker=N`,
                   # then real health endpoints (Airflow's monitor, each service's /ready, every worker)
    stack.down()   # `docker compose down` (a test run also drops its volumes), only if this object started it

A test run (no env_file) writes `<state_dir>/compose.env` (0600: fresh secrets from .env.example, the nine
HSS_*_HOST_PORT variables set EMPTY so every port is ephemeral, HSS_DATA_DIR) and uses `<state_dir>/compose-data`
as the data root. `make up` uses the user's .env, the base file alone, project COMPOSE_PROJECT_NAME (default
hss-workflow) and the data root HSS_DATA_DIR (default .stack/data). Either way the data root is a host folder
bind-mounted at /app/data, so what a test or a user drops there, the containers see.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

from contracts.catalog import SERVICES, service_by_name
from e2e.harness.airflow_stack import health
from e2e.harness.base import FlowerAccess, Stack
from e2e.harness.compose_project import (
    LOG_TAIL_LINES,
    DockerStackError,
    ProjectCompose,
    containers_memory,
    ensure_base_images,
    output_tail,
)
from e2e.harness.dag_repo import BUNDLE_NAME, DagRepo
from e2e.harness.data_folders import prepare_data_root, private_folders, unsigned_model_warning
from e2e.harness.docker_faults import WORKER_SERVICE, ContainerFaults
from e2e.harness.env_file import ensure_env_file, read_env_file, update_env_file

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_FILE, TEST_OVERLAY = "docker-compose.yml", "docker-compose.test.yml"
# One compose project per checkout (as compose's own per-folder default, but two clones named alike do not
# share a database volume created with the other's POSTGRES_PASSWORD); `make up` writes it into .env, so a
# plain `docker compose ps` in the checkout finds the same project.
DEFAULT_PROJECT = f"hss-workflow-{hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:6]}"
# A database volume kept from an earlier .env: its password is not the one .env holds now.
STALE_DB_HINT = (
    "the metadata DB volume was created with another POSTGRES_PASSWORD (an earlier .env). Put that password back "
    "into .env, or drop the volume with its run history: docker compose --project-name {project} down --volumes"
)
DEFAULT_DATA_DIR = ".stack/data"  # relative to the repository, as the compose file's ${HSS_DATA_DIR:-…}
DEFAULT_MAIL_DIR = ".stack/mail"  # ${HSS_MAIL_DIR:-…}: where the mail-sink service writes
DEFAULT_DAGS_REPO = ".stack/dags.git"  # ${HSS_DAGS_REPO:-…}: the Git DAG bundle's repository, mounted read-only
DAGS_SOURCE = REPO_ROOT / "airflow" / "dags"
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
# The uid the containers run as when the host user is root (Airflow's image's uid): never root by default.
ROOT_HOST_AIRFLOW_UID = 50000
AIRFLOW_SERVICE, AIRFLOW_PORT = "airflow-apiserver", 8080
FLOWER_SERVICE, FLOWER_PORT = "flower", 5555
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


def default_airflow_uid() -> int:
    """The uid the containers run as (group 0): the host user's, so the data root stays theirs; 50000 for root."""
    uid = os.getuid()
    return uid if uid != 0 else ROOT_HOST_AIRFLOW_UID


def foreign_owned(root: Path, uid: int, depth: int = 2) -> list[Path]:
    """Folders near the top of `root` that belong to neither `uid` nor root: e.g. results of an older stack
    that ran as uid 50000. The containers (uid `uid`) cannot write into them."""
    found, level = [], [root]
    for _ in range(depth + 1):
        following = []
        for folder in level:
            try:
                if folder.stat().st_uid not in (uid, 0):
                    found.append(folder)
                    continue
                following += [child for child in folder.iterdir() if child.is_dir() and not child.is_symlink()]
            except OSError:
                continue
        level = following
    return found


class DockerStack(ContainerFaults, Stack):
    backend = "docker"

    def __init__(
        self,
        *,
        state_dir: Path | str,
        workers: int = 1,
        env_file: Path | str | None = None,
        airflow_uid: int | None = None,
        build: bool = True,
        timeout: float = 600.0,
        compose_binary: str | None = None,
        progress: Callable[[str], None] = print,
        airflow_env: dict[str, str] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.state_dir = Path(state_dir).resolve()
        self.workers = workers
        self.test_run = env_file is None
        # HSS_* settings of the Airflow components: the compose file reads each from the env file.
        self.airflow_env = airflow_env or {}
        if self.airflow_env and not self.test_run:
            raise ValueError("airflow_env is for test runs; `make up` reads these settings from .env")
        self.env_path = self.state_dir / "compose.env" if self.test_run else Path(env_file).resolve()
        if airflow_uid is not None and not self.test_run:
            raise ValueError("airflow_uid is for test runs; `make up` reads AIRFLOW_UID from .env")
        self._airflow_uid = airflow_uid
        self.build = build
        self.timeout = timeout  # `up --wait` and the health wait after it; and each restart
        self.progress = progress
        self._env: dict[str, str] | None = None
        if self.test_run:
            self.project_name = f"hss-e2e-{secrets.token_hex(4)}"
            self.data_root = self.state_dir / "compose-data"
            self.mail_dir = self.state_dir / "compose-mail"
            self.dag_repo = DagRepo(self.state_dir / "compose-dags.git")
        else:
            values = self.env_values()
            missing = {"COMPOSE_PROJECT_NAME": DEFAULT_PROJECT, "AIRFLOW_UID": str(default_airflow_uid())}
            if missing := {key: value for key, value in missing.items() if not values.get(key)}:
                update_env_file(self.env_path, missing, header="Set by make up.")
                self._env = None
                values = self.env_values()
            self.project_name = values.get("COMPOSE_PROJECT_NAME") or DEFAULT_PROJECT
            self.data_root = (REPO_ROOT / (values.get("HSS_DATA_DIR") or DEFAULT_DATA_DIR)).resolve()
            self.mail_dir = (REPO_ROOT / (values.get("HSS_MAIL_DIR") or DEFAULT_MAIL_DIR)).resolve()
            self.dag_repo = DagRepo((REPO_ROOT / (values.get("HSS_DAGS_REPO") or DEFAULT_DAGS_REPO)).resolve())
        self.compose = ProjectCompose(
            context=REPO_ROOT,
            compose_file_name=[BASE_FILE, TEST_OVERLAY] if self.test_run else [BASE_FILE],
            env_file=[str(self.env_path)],
            docker_command_path=compose_binary,
            project_name=self.project_name,
            keep_volumes=not self.test_run,
            scale={WORKER_SERVICE: workers},
            wait_timeout=timeout,
        )
        self.service_urls: dict[str, str] = {}
        self.flower: FlowerAccess | None = None
        self._airflow_url: str | None = None
        self._started = False

    # --- configuration ---------------------------------------------------------------------------
    @property
    def airflow_uid(self) -> int:
        """The uid every container of ours runs as (group 0)."""
        if self.test_run:
            return self._airflow_uid if self._airflow_uid is not None else default_airflow_uid()
        return int(self.env_values().get("AIRFLOW_UID") or default_airflow_uid())

    def prepare(self) -> Path:
        """The data folder, and a test run's env file (idempotent); return the env file's path.

        A test run leaves the mail folder and the DAG repository to the init service, as a plain `docker compose
        up` on a fresh checkout does (Docker creates them as root; the init service hands them to AIRFLOW_UID and
        seeds the repository). `make up` deploys the working tree's DAGs into the repository at every start."""
        prepare_data_root(self.data_root, owner=self.airflow_uid)
        if warning := unsigned_model_warning(self.data_root):
            self.progress(warning)
        if not self.test_run:
            private_folders(self.mail_dir)
            self.progress(self.dag_repo.sync(DAGS_SOURCE))
            if foreign := foreign_owned(self.data_root, self.airflow_uid):
                shown = ", ".join(str(p) for p in foreign[:3])
                self.progress(
                    f"warning: {len(foreign)} folder(s) of the data root belong to another uid than AIRFLOW_UID="
                    f"{self.airflow_uid} ({shown}…): the containers cannot write there. Written by an older stack "
                    f"that ran as uid 50000? Take them back: sudo chown -R {self.airflow_uid} {self.data_root}"
                )
        if self.test_run:
            ensure_env_file(self.env_path, REPO_ROOT / ".env.example")
            update_env_file(
                self.env_path,
                {
                    **dict.fromkeys(HOST_PORT_VARS, ""),  # empty = ephemeral host port (see docker-compose.test.yml)
                    "HSS_DATA_DIR": str(self.data_root),
                    "HSS_MAIL_DIR": str(self.mail_dir),
                    "HSS_DAGS_REPO": str(self.dag_repo.path),
                    **self.airflow_env,
                    "HSS_SCHEDULER_CONTAINER": f"{self.project_name}-airflow-scheduler",
                    "AIRFLOW_UID": str(self.airflow_uid),
                    "COMPOSE_PROJECT_NAME": self.project_name,
                },
                header="Test run (e2e/harness/docker_stack.py): ephemeral host ports, host data folder, own project.",
            )
        self._env = None
        return self.env_path

    def env_values(self) -> dict[str, str]:
        if self._env is None:
            if self.test_run and not self.env_path.exists():
                self.prepare()
            self._env = read_env_file(self.env_path)
        return self._env

    @property
    def username(self) -> str:
        return self.env_values().get("AIRFLOW_ADMIN_USER") or "admin"

    @property
    def password(self) -> str:
        return self.env_values()["AIRFLOW_ADMIN_PASSWORD"]

    @property
    def api_key(self) -> str:
        return self.env_values()["HSS_API_KEY"]

    @property
    def airflow_url(self) -> str:
        if self._airflow_url is None:
            raise RuntimeError("the docker stack is not up")
        return self._airflow_url

    def compose_command(self) -> list[str]:
        """The compose command every call starts with (files, env file, project)."""
        return list(self.compose.compose_command_property)

    # --- lifecycle -------------------------------------------------------------------------------
    def up(self) -> DockerStack:
        """Build and start the project, wait on real health endpoints; on failure tear down and raise with logs."""
        self.prepare()
        ensure_base_images(self.compose, progress=self.progress)  # names the image and its variable if it fails
        self._started = True  # from here on, down() removes the project (also after a half start)
        try:
            if self.build:
                self.progress(f"building the images from uv.lock ({' '.join(self.compose_command())} build)…")
                started = time.monotonic()
                self.compose.stream("build")
                self.progress(f"  images built in {time.monotonic() - started:.1f} s")
            self.progress(
                f"docker compose up --wait --scale {WORKER_SERVICE}={self.workers} (project {self.project_name})…"
            )
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
        """`docker compose down` for the project this object started (a test run's volumes too); else nothing."""
        if not self._started:
            return
        if self.test_run:
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
            if not self._answers(f"{url}/ready"):
                failing[name] = f"{url}/ready does not answer 200"
        if (listed := len(self.flower_workers())) < self.workers:
            failing[WORKER_SERVICE] = f"Flower lists {listed} of {self.workers} Celery workers"
        return failing

    def _wait_healthy(self, deadline: float) -> None:
        while failing := self.failing_checks():
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

    def flower_workers(self) -> dict[str, dict]:
        return self.flower.workers() if self.flower else {}

    def container_states(self) -> list[tuple[str, str, str]]:
        """(container name, state, health) of every container of the project, `make status`'s view; the one-shot
        airflow-init reads "done" once it exited 0."""
        return [
            (
                container.Name or "?",
                container.State or "?",
                "done" if container.State == "exited" and container.ExitCode == 0 else container.Health or "-",
            )
            for container in self.compose.get_containers(include_all=True)
        ]

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
                one_shot_done = container.Service == "airflow-init" and container.ExitCode == 0
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

    # --- components ------------------------------------------------------------------------------
    def stop_service(self, name: str) -> None:
        service_by_name(name)  # KeyError naming the known services
        self._compose("stop", name)

    def start_service(self, name: str) -> None:
        """`docker compose start`, then wait for /ready. The URL is read again: a restarted container may get a
        new ephemeral host port, so `service_urls[name]` can change."""
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

    def _service_name(self, component: str) -> str:
        return COMPONENT_ALIASES.get(component, component)

    def memory_bytes(self) -> float:
        """`docker stats` memory summed over the project's running containers."""
        return containers_memory([container.Name for container in self.compose.get_containers() if container.Name])

    def logs(self, component: str) -> str:
        stdout, stderr = self.compose.get_logs(COMPONENT_ALIASES.get(component, component))
        return stdout + stderr

    def _compose(self, *args: str) -> None:
        try:
            self.compose.run(*args)
        except subprocess.CalledProcessError as exc:
            raise DockerStackError(f"docker compose {' '.join(args)} failed:\n{output_tail(exc.stderr)}") from exc

    # --- stack.json ------------------------------------------------------------------------------
    def _backing_urls(self) -> dict[str, str]:
        """PostgreSQL and Redis on their published host ports, with their passwords (as the local stack lists them)."""
        values = self.env_values()
        try:
            postgres = self._url("postgres", 5432).removeprefix("http://")
            redis = self._url("redis", 6379).removeprefix("http://")
        except Exception:  # not running (a stopped container publishes nothing): stack.json goes without them
            return {}
        return {
            "postgres": f"postgresql+psycopg2://airflow:{values['POSTGRES_PASSWORD']}@{postgres}/airflow",
            "redis": f"redis://:{values['REDIS_PASSWORD']}@{redis}/0",
        }

    def info(self) -> dict:
        flower = self.flower
        return {
            "backend": self.backend,
            "profile": "compose",
            "executor": "CeleryExecutor",
            "workers": self.workers,
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
            "mail_dir": str(self.mail_dir),
            "dag_bundle": {"name": BUNDLE_NAME, "repo": str(self.dag_repo.path)},
            **self._backing_urls(),
            "compose": {
                "project": self.project_name,
                "env_file": str(self.env_path),
                "command": self.compose_command(),
            },
        }
