"""`StackConfig`: everything a stack is built from, in one frozen object (both backends take it).

    config = StackConfig(profile="celery", workers=3, state_dir=Path(".stack"))
    stack = LocalStack(config)                          # or DockerStack(config), or make_stack("auto", config)
    config = StackConfig.from_env_values(read_env_file(".env"), profile="celery")   # `make up`'s login and keys

Local-only fields: profile, data_root, dags_folder, fixed_ports, the login, with_services. Docker-only fields:
env_file (None: a test run with its own env file, ports and project), airflow_uid, build, compose_binary.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from stack.env_file import model_signing_env
from stack.paths import DAGS_SOURCE, STATE_DIR


@dataclass(frozen=True)
class StackConfig:
    profile: str = "embedded"  # local: "embedded" (SQLite + LocalExecutor) or "celery" (the compose topology)
    workers: int = 1  # Celery workers (compose: --scale airflow-worker=N)
    audio_replicas: int = 1  # workflow-audio replicas behind its balancer (compose: --scale workflow-audio=N)
    state_dir: Path = STATE_DIR
    data_root: Path | None = None  # default <state_dir>/data (docker: HSS_DATA_DIR of the env file)
    dags_folder: Path = DAGS_SOURCE
    fixed_ports: bool = True  # the seed's ports (8080, 8001…); False: any free port
    username: str = "admin"
    password: str = "admin"
    api_key: str | None = None  # None: a fresh one
    flower_username: str = "admin"
    flower_password: str | None = None  # None: a fresh one
    with_services: bool = True
    metrics: bool = True  # local "celery": statsd bridge, Prometheus, Alertmanager (False: the bench baseline)
    service_env: dict[str, str] = field(default_factory=dict)  # HSS_* settings of the services
    airflow_env: dict[str, str] = field(default_factory=dict)  # HSS_* settings of the Airflow components
    timeout: float | None = None  # each start/health wait; None: the backend's default
    # docker backend
    env_file: Path | None = None  # `make up`: .env; None: a test run (own env file, ephemeral ports)
    airflow_uid: int | None = None  # a test run's container uid (make up reads AIRFLOW_UID from .env)
    build: bool = True
    compose_binary: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.audio_replicas < 1:
            raise ValueError(f"audio_replicas must be at least 1, got {self.audio_replicas}")
        object.__setattr__(self, "state_dir", Path(self.state_dir).resolve())
        object.__setattr__(self, "dags_folder", Path(self.dags_folder).resolve())
        if self.data_root is not None:
            object.__setattr__(self, "data_root", Path(self.data_root).resolve())
        if self.env_file is not None:
            object.__setattr__(self, "env_file", Path(self.env_file).resolve())

    def with_changes(self, **changes: object) -> StackConfig:
        return replace(self, **changes)

    @classmethod
    def from_env_values(cls, values: dict[str, str], **fields: object) -> StackConfig:
        """The login, API key and Flower login of an env file (.env), and its model-signing key for the services
        (models trained by any stack on this data root load here too); `fields` set the rest."""
        login = {
            "username": values.get("AIRFLOW_ADMIN_USER") or "admin",
            "password": values.get("AIRFLOW_ADMIN_PASSWORD") or "admin",
            "api_key": values.get("HSS_API_KEY") or None,
            "flower_username": values.get("FLOWER_USER") or "admin",
            "flower_password": values.get("FLOWER_PASSWORD") or "admin",
            "service_env": model_signing_env(values),
        }
        return cls(**{**login, **fields})  # type: ignore[arg-type]
