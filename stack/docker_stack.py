"""`DockerStack`: the full stack from docker-compose.yml (+ docker-compose.test.yml), driven by testcontainers.

    stack = DockerStack(StackConfig(state_dir=tmp, workers=2))   # a test run: own project, env file, ports, data
    stack = DockerStack(StackConfig(state_dir=STATE_DIR, env_file=ENV_FILE, workers=3))  # `make up`: seed's ports
    stack.up()     # base images checked, images built from uv.lock, `up --wait --scale airflow-worker=N`,
                   # then real health endpoints (Airflow's monitor, each service's /ready, every worker)
    stack.down()   # `docker compose down` (a test run also drops its volumes), only if this object started it

A test run (no env_file) writes `<state_dir>/compose.env` (0600: fresh secrets from .env.example, the nine
HSS_*_HOST_PORT variables set EMPTY so every port is ephemeral, HSS_DATA_DIR) and uses `<state_dir>/compose-data`
as the data root. `make up` uses the user's .env, the base file alone, project COMPOSE_PROJECT_NAME (default
hss-workflow) and the data root HSS_DATA_DIR (default .stack/data). Either way the data root is a host folder
bind-mounted at /app/data, so what a test or a user drops there, the containers see. Mixins: DockerControl
(make up/down/status), DockerHealth (health checks, failure report), ContainerFaults (crash, restart, workers).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from docker.errors import DockerException

from contracts.catalog import SERVICES, service_by_name
from stack.base import FlowerAccess, Stack
from stack.compose_project import (
    DockerStackError,
    ProjectCompose,
    ensure_base_images,
    output_tail,
)
from stack.config import StackConfig
from stack.dag_repo import BUNDLE_NAME, DagRepo
from stack.data_folders import foreign_owned, prepare_data_root, private_folders, unsigned_model_warning
from stack.docker_api import containers_memory, save_project_logs
from stack.docker_control import DockerControl
from stack.docker_faults import ContainerFaults
from stack.docker_health import DockerHealth
from stack.docker_services import DockerServices
from stack.env_file import ensure_env_file, read_env_file, update_env_file
from stack.observability import ALERTMANAGER, ALERTMANAGER_PORT, PROMETHEUS, PROMETHEUS_PORT
from stack.paths import (
    AIRFLOW_SERVICE,
    AUDIO_BALANCER,
    AUDIO_SERVICE,
    COMPOSE_FILE,
    COMPOSE_TEST_OVERLAY,
    DAG_PROCESSOR_SERVICE,
    DAGS_REPO_DEFAULT,
    DAGS_SOURCE,
    DATA_DIR_DEFAULT,
    ENV_EXAMPLE,
    FLOWER_SERVICE,
    MAIL_DIR_DEFAULT,
    REPO_ROOT,
    SCHEDULER_SERVICE,
    TRIGGERER_SERVICE,
    WORKER_SERVICE,
)

BASE_FILE, TEST_OVERLAY = COMPOSE_FILE, COMPOSE_TEST_OVERLAY
# One compose project per checkout (as compose's own per-folder default, but two clones named alike do not
# share a database volume created with the other's POSTGRES_PASSWORD); `make up` writes it into .env, so a
# plain `docker compose ps` in the checkout finds the same project.
DEFAULT_PROJECT = f"hss-workflow-{hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:6]}"
DEFAULT_DATA_DIR = DATA_DIR_DEFAULT  # relative to the repository, as the compose file's ${HSS_DATA_DIR:-…}
DEFAULT_MAIL_DIR = MAIL_DIR_DEFAULT  # ${HSS_MAIL_DIR:-…}: where the mail-sink service writes
DEFAULT_DAGS_REPO = DAGS_REPO_DEFAULT  # ${HSS_DAGS_REPO:-…}: the Git DAG bundle's repository, mounted read-only
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
    "HSS_PROMETHEUS_HOST_PORT",
    "HSS_ALERTMANAGER_HOST_PORT",
)
# The uid the containers run as when the host user is root (Airflow's image's uid): never root by default.
ROOT_HOST_AIRFLOW_UID = 50000
DEFAULT_TIMEOUT = 600.0
TEST_RUN_STOP_S = 2  # a test run's containers are removed with their volumes: nothing to shut down gracefully
AIRFLOW_PORT, FLOWER_PORT = 8080, 5555
# The local backend's process names, accepted here too (base.py: tests may use either).
COMPONENT_ALIASES = {
    "api-server": AIRFLOW_SERVICE,
    "scheduler": SCHEDULER_SERVICE,
    "dag-processor": DAG_PROCESSOR_SERVICE,
    "triggerer": TRIGGERER_SERVICE,
    "worker": WORKER_SERVICE,
    "celery-worker": WORKER_SERVICE,
}


def default_airflow_uid() -> int:
    """The uid the containers run as (group 0): the host user's, so the data root stays theirs; 50000 for root."""
    uid = os.getuid()
    return uid if uid != 0 else ROOT_HOST_AIRFLOW_UID


class DockerStack(DockerControl, DockerHealth, DockerServices, ContainerFaults, Stack):
    backend = "docker"

    def __init__(self, config: StackConfig, *, progress: Callable[[str], None] = print) -> None:
        self.config = config
        self.state_dir = config.state_dir
        self.workers = workers = config.workers
        self.audio_replicas = config.audio_replicas
        self.test_run = config.env_file is None
        # HSS_* settings of the Airflow components and the services: the compose file reads each from the env file.
        if config.airflow_env and not self.test_run:
            raise ValueError("airflow_env is for test runs; `make up` reads these settings from .env")
        self.airflow_env = {**config.airflow_env, **config.service_env} if self.test_run else {}
        self.env_path = self.state_dir / "compose.env" if config.env_file is None else config.env_file
        if config.airflow_uid is not None and not self.test_run:
            raise ValueError("airflow_uid is for test runs; `make up` reads AIRFLOW_UID from .env")
        self._airflow_uid = config.airflow_uid
        self.build = config.build
        self.timeout = timeout = config.timeout or DEFAULT_TIMEOUT  # `up --wait`, the health wait; each restart
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
            docker_command_path=config.compose_binary,
            project_name=self.project_name,
            keep_volumes=not self.test_run,
            scale={WORKER_SERVICE: workers, AUDIO_SERVICE: config.audio_replicas},
            wait_timeout=timeout,
        )
        self.service_urls: dict[str, str] = {}
        self.metrics_urls: dict[str, dict[str, str]] = {}  # Prometheus and Alertmanager
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
        prepare_data_root(self.data_root, owner=self.airflow_uid, migrate=False)  # the init service migrates
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
            ensure_env_file(self.env_path, ENV_EXAMPLE)
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
                header="Test run (stack/docker_stack.py): ephemeral host ports, host data folder, own project.",
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
                f"docker compose up --wait --scale {WORKER_SERVICE}={self.workers} --scale {AUDIO_SERVICE}="
                f"{self.audio_replicas} (project {self.project_name})…"
            )
            self.compose.start()
            self._resolve_urls()
            self._wait_healthy(self.timeout)
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
        """`docker compose down` for the project this object started (a test run's volumes too); else nothing.

        A test run's project is thrown away, so its containers get 2 s to stop instead of compose's 10 s, after
        their logs are saved (<state_dir>/logs/)."""
        if not self._started:
            return
        if self.test_run:
            try:
                save_project_logs(self.project_name, self.state_dir / "logs")
            except (DockerException, OSError) as exc:  # the project must still come down
                self.progress(f"warning: could not save the containers' logs: {exc}")
        try:
            self.compose.stop(down=True, timeout=TEST_RUN_STOP_S if self.test_run else None)
        except subprocess.CalledProcessError as exc:
            raise DockerStackError(f"docker compose down failed:\n{output_tail(exc.stderr)}") from exc
        self._started = False
        self._airflow_url, self.flower, self.service_urls, self.metrics_urls = None, None, {}, {}

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

    def _service_url(self, name: str) -> str:
        """Where a service answers on the host: workflow-audio's balancer owns its published port."""
        return self._url(AUDIO_BALANCER if name == AUDIO_SERVICE else name, service_by_name(name).port)

    def _resolve_urls(self) -> None:
        self._airflow_url = self._url(AIRFLOW_SERVICE, AIRFLOW_PORT)
        values = self.env_values()
        self.flower = FlowerAccess(
            url=self._url(FLOWER_SERVICE, FLOWER_PORT),
            username=values.get("FLOWER_USER") or "admin",
            password=values["FLOWER_PASSWORD"],
        )
        self.service_urls = {spec.name: self._service_url(spec.name) for spec in SERVICES}
        self.metrics_urls = {
            PROMETHEUS: {"url": self._url(PROMETHEUS, PROMETHEUS_PORT)},
            ALERTMANAGER: {"url": self._url(ALERTMANAGER, ALERTMANAGER_PORT)},
        }

    # --- components ------------------------------------------------------------------------------
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
            "audio_replicas": self.audio_replicas,
            "balancer": {"url": self.service_urls.get(AUDIO_SERVICE)},
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
            **self.metrics_urls,
            "compose": {
                "project": self.project_name,
                "env_file": str(self.env_path),
                "command": self.compose_command(),
            },
        }
