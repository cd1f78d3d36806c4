"""How a local stack keeps its metadata and runs its tasks: the "embedded" and "celery" profiles.

embedded  SQLite in AIRFLOW_HOME + LocalExecutor (which preloads the DAGs' modules): nothing beyond Airflow
          itself (`make demo`).
celery    the seed's topology as processes (`make up`, `make e2e` without Docker): a throwaway
          PostgreSQL (metadata DB + Celery result backend), redis-server (broker), CeleryExecutor,
          `airflow celery worker` and Flower — what docker-compose.yml runs in containers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from celery import Celery

from contracts.catalog import WORKER_QUEUES
from stack.airflow_stack import LOCAL_EXECUTOR, airflow_argv
from stack.backing import ThrowawayPostgres, ThrowawayRedis
from stack.balancer import LocalBalancer
from stack.base import FlowerAccess
from stack.observability import LocalObservability
from stack.paths import REPO_ROOT, WORKER_SERVICE
from stack.processes import ManagedProcess, ProcessGroup, free_port
from stack.services import pick_port


class ProfileStack(Protocol):
    """What a profile uses of its stack (stack.LocalStack has it); stack.py imports this module, not the reverse."""

    group: ProcessGroup
    timeout: float
    fixed_ports: bool
    flower_username: str
    flower_password: str
    progress: Callable[[str], None]
    state_dir: Path
    service_urls: dict[str, str]
    service_processes: list[tuple[str, str]]  # (service, URL) of each process serving one: every replica
    balancer: LocalBalancer | None
    smtp_port: int
    metrics: bool

    @property
    def logs_dir(self) -> Path: ...

    @property
    def flower(self) -> FlowerAccess | None: ...


class Profile:
    """Hooks LocalStack.up()/down() call; a profile instance belongs to one stack."""

    name = ""
    executor = ""
    git_dag_bundle = False  # True: the DAGs come from the stack's Git DAG bundle (stack/dag_repo.py)
    parallelism = 4  # [core] parallelism: the LocalExecutor forks this many workers

    def start_backends(self, stack: ProfileStack) -> dict[str, str]:
        """Start backing processes (database, broker) in stack.group; return Airflow env overrides."""
        raise NotImplementedError

    def extra_components(self, stack: ProfileStack, env: dict[str, str]) -> list[tuple[ManagedProcess, Callable]]:
        """Airflow processes beyond api-server/scheduler/dag-processor/triggerer, with health probes."""
        return []

    def urls(self, stack: ProfileStack) -> dict:
        """Extra entries for stack.json (e.g. Flower)."""
        return {}

    def cleanup(self, stack: ProfileStack) -> None:
        """After every process stopped: remove throwaway files."""


class EmbeddedProfile(Profile):
    name = "embedded"
    executor = LOCAL_EXECUTOR  # Airflow's LocalExecutor, preloading the DAGs' modules

    def start_backends(self, stack: ProfileStack) -> dict[str, str]:
        return {}  # airflow_env's default metadata DB: SQLite in AIRFLOW_HOME


FLOWER_PORT = 5555

# Celery settings for 2 cores: 4 task slots per worker (the tasks mostly wait on HTTP; each slot is a
# forked process of ≈150 MB). A task whose worker died is noticed after 30 s without a heartbeat
# (default 300 s) and retried, so a lost worker costs half a minute, not five. The worker imports the DAGs'
# modules once before its pool forks (hss_airflow/celery_config.py), so each task does not import them again.
# A task queued to a worker that died before starting it (its Celery message is gone with the worker) is
# requeued after 180 s in the queued state (default 600 s, longer than a run's whole budget in the tests),
# looked for every 30 s (default 120 s, which made it up to 300 s).
WORKER_CONCURRENCY = 4
CELERY_ENV = {
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "hss_airflow.celery_config.CELERY_CONFIG",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "180",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "30",
}


def worker_process_name(index: int) -> str:
    """airflow-worker, airflow-worker-2, …: the first answers to the compose service name."""
    return WORKER_SERVICE if index == 1 else f"{WORKER_SERVICE}-{index}"


def worker_hostname(index: int) -> str:
    """worker-1, worker-2, …: Celery's node name (`worker-1@<host>`) and the task instances' hostname."""
    return f"worker-{index}"


class CeleryProfile(Profile):
    name = "celery"
    executor = "CeleryExecutor"
    git_dag_bundle = True  # the full stack, as compose: versioned DAGs (the embedded demo keeps a plain folder)
    # Twice the worker's Celery slots. A task's supervisor keeps its slot (Celery's and the scheduler's) ~1 s after
    # the task ended, and no state change wakes the scheduler when it lets go: with parallelism 4 the scheduler
    # found 0 open slots and the next task waited out its 1 s idle sleep (5 of 15 comprehensive_analysis runs).
    # With 8 it queues the task to Celery at once, and a pool process takes it the moment one is free; the worker's
    # concurrency still bounds the running tasks.
    parallelism = 2 * WORKER_CONCURRENCY

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.postgres: ThrowawayPostgres | None = None
        self.redis: ThrowawayRedis | None = None
        self.flower_port = 0
        self.observability: LocalObservability | None = None

    def start_backends(self, stack: ProfileStack) -> dict[str, str]:
        self.postgres = ThrowawayPostgres(stack.logs_dir)
        self.redis = ThrowawayRedis(stack.logs_dir)
        stack.progress("starting PostgreSQL (initdb in a temp dir) and redis-server…")
        initdb_seconds = self.postgres.init()
        postgres = stack.group.start(self.postgres.process())
        redis = stack.group.start(self.redis.process())
        postgres.probe, redis.probe = self.postgres.ready, self.redis.ready
        postgres.wait_healthy(stack.timeout)
        redis.wait_healthy(stack.timeout)
        stack.progress(
            f"  PostgreSQL :{self.postgres.port} (initdb {initdb_seconds:.1f} s) and Redis :{self.redis.port} ready"
        )
        metrics_env: dict[str, str] = {}
        if stack.metrics:  # Airflow's StatsD goes to the bridge from the first component on (docs/OBSERVABILITY.md)
            home = stack.state_dir / "observability"
            self.observability = LocalObservability(home, stack.logs_dir, stack.fixed_ports)
            bridge, metrics_env = self.observability.bridge()
            stack.group.start(bridge).wait_healthy(stack.timeout)
        return {
            **CELERY_ENV,
            **metrics_env,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.postgres.url.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__FLOWER_BASIC_AUTH": f"{stack.flower_username}:{stack.flower_password}",
        }

    def extra_components(self, stack: ProfileStack, env: dict[str, str]) -> list[tuple[ManagedProcess, Callable]]:
        self.flower_port = pick_port(FLOWER_PORT, stack.fixed_ports)  # the seed's 5555 when free
        components: list[tuple[ManagedProcess, Callable]] = [
            (self.worker_process(stack, env, i), lambda i=i: self.worker_answers(i)) for i in range(1, self.workers + 1)
        ]
        flower = ManagedProcess(
            "flower",
            airflow_argv("celery", "flower", "--hostname", "127.0.0.1", "--port", str(self.flower_port)),
            stack.logs_dir / "flower.log",
            env=env,
            cwd=REPO_ROOT,
        )
        metrics = []
        if self.observability is not None:
            metrics = self.observability.servers(
                services=stack.service_processes,
                balancer=stack.balancer.url if stack.balancer else "",
                flower=self.flower_url(),
                flower_login=(stack.flower_username, stack.flower_password),
                smtp=f"127.0.0.1:{stack.smtp_port}",
            )
        # Flower is ready once it lists every worker (which also fills its cache for the seed's curl).
        return [*components, (flower, lambda: len(stack.flower.workers()) >= self.workers), *metrics]

    def worker_process(self, stack: ProfileStack, env: dict[str, str], index: int) -> ManagedProcess:
        """Worker `index`. Each has its own hostname (Celery's and the task instances' `hostname`,
        hss_airflow/hostname.py) and its own log-server port: they share one machine."""
        hostname = worker_hostname(index)
        worker_env = {
            **env,
            "HSS_WORKER_HOSTNAME": hostname,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "hss_airflow.hostname.worker_hostname",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        name = worker_process_name(index)
        argv = airflow_argv("celery", "worker", "--celery-hostname", f"{hostname}@%h", "--queues", WORKER_QUEUES)
        return ManagedProcess(name, argv, stack.logs_dir / f"{name}.log", env=worker_env, cwd=REPO_ROOT)

    def worker_answers(self, index: int) -> bool:
        return worker_hostname(index) in self.ping_workers()

    def flower_url(self) -> str:
        return f"http://127.0.0.1:{self.flower_port}"

    def ping_workers(self, timeout: float = 1.0) -> list[str]:
        """The hostnames ("worker-1", …) of the Celery workers that answer a broadcast ping on the broker right
        now (Flower keeps dead ones)."""
        assert self.redis is not None
        app = Celery(broker=self.redis.url)
        try:
            return [name.split("@", 1)[0] for reply in app.control.ping(timeout=timeout) for name in reply]
        except Exception:  # broker not reachable (yet, or again after a restart): OSError, redis' own errors
            return []
        finally:
            app.close()

    def urls(self, stack: ProfileStack) -> dict:
        return {
            "flower": {"url": self.flower_url(), "username": stack.flower_username, "password": stack.flower_password},
            "postgres": self.postgres.url if self.postgres else None,
            "redis": self.redis.url if self.redis else None,
            **(self.observability.urls() if self.observability else {}),
        }

    def cleanup(self, stack: ProfileStack) -> None:
        for backend in (self.postgres, self.redis):
            if backend is not None:
                backend.remove()


PROFILES: dict[str, type[Profile]] = {"embedded": EmbeddedProfile, "celery": CeleryProfile}


def get_profile(name: str, workers: int = 1) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    if name == "celery":
        return CeleryProfile(workers)
    if workers != 1:
        raise ValueError(f"profile {name!r} runs no Celery workers (workers={workers})")
    return PROFILES[name]()
