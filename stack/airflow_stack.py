"""Airflow 3 as local processes: the environment every component shares, the init step, the components.

One function builds the environment (`airflow_env`), so the api-server, scheduler, dag-processor,
triggerer — and the task processes they start — agree on the JWT secret, the execution API URL, the
metadata DB and the service connections. The init step (`init_commands`) is the same sequence the
compose stack's init service runs: migrate the DB, import the repo's pools. Nothing is created by hand.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from stack.env_file import jwt_secret, write_private
from stack.paths import DAGS_SOURCE, PLUGINS_FOLDER, POOLS_FILE, REPO_ROOT
from stack.processes import LaunchError, ManagedProcess, ProcessGroup, free_port, tail
from stack.waiting import WaitTimeout, try_get, wait_until

DAGS_FOLDER = DAGS_SOURCE
BIN_DIR = Path(sys.executable).parent  # the venv's bin (not resolved: a venv python is a symlink)
PASSWORDS_FILE_NAME = "simple_auth_manager_passwords.json"
SECRETS_FILE_NAME = "stack-secrets.json"
# Components whose heartbeat GET /api/v2/monitor/health reports (key in its answer).
HEARTBEAT_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


# `make demo`'s executor: Airflow's LocalExecutor, which imports the DAGs' modules before it forks the workers
# that fork every task (hss_airflow/local_executor.py; without it each task imported them again, ≈ 0.4 s).
LOCAL_EXECUTOR = "hss_airflow.local_executor.PreloadingLocalExecutor"


@dataclass
class AirflowSettings:
    """Everything that differs between two Airflow stacks on the same machine."""

    home: Path
    api_port: int
    executor: str = LOCAL_EXECUTOR
    dags_folder: Path = DAGS_FOLDER
    plugins_folder: Path = PLUGINS_FOLDER
    username: str = "admin"
    password: str = "admin"
    parallelism: int = 4  # [core] parallelism; each profile sets its own (stack/profiles.py)
    data_root: Path | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # jwt_secret, secret_key, fernet_key
    # Log servers on free ports: two stacks on one machine must not fight over 8793/8794.
    worker_log_port: int = field(default_factory=free_port)
    trigger_log_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)  # connections, profile settings (broker, …)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def passwords_file(self) -> Path:
        return self.home / PASSWORDS_FILE_NAME


def load_or_create_secrets(home: Path) -> dict[str, str]:
    """The stack's secrets, generated once per AIRFLOW_HOME and kept there (0600).

    The Fernet key must outlive a restart: the DB keeps what it encrypted (trigger kwargs).
    """
    path = home / SECRETS_FILE_NAME
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "jwt_secret": jwt_secret(),
        "secret_key": secrets.token_urlsafe(32),
        "fernet_key": Fernet.generate_key().decode(),
    }
    home.mkdir(parents=True, exist_ok=True)
    write_private_json(path, values)
    return values


def write_private_json(path: Path, data: dict) -> None:
    write_private(path, json.dumps(data, indent=2) + "\n")


def write_passwords_file(settings: AirflowSettings) -> Path:
    """SimpleAuthManager's pre-seeded passwords file: {"user": "password"}."""
    settings.home.mkdir(parents=True, exist_ok=True)
    write_private_json(settings.passwords_file, {settings.username: settings.password})
    return settings.passwords_file


# The idle scheduler's loop (see airflow_env). On PostgreSQL hss_airflow.scheduler ends the sleep when a task's try
# ends or a run is created, so it can stay at Airflow's default 1 s; on SQLite (make demo) nothing wakes it.
SCHEDULER_IDLE_SLEEP_S = 1.0
POLLING_SCHEDULER_IDLE_SLEEP_S = 0.25
IDLE_SLEEP_KEY = "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"
# [workers] min_heartbeat_interval, Airflow's default: each running task's supervisor sends a heartbeat this often.
# It is also how long the supervisor may sleep between looks at its task process, which kept the task's slot up
# to 5 s after its end; hss_airflow.task_exit wakes the supervisor at the exit instead. At 1 s (the stacks' value
# until 2026-12-07) every running task cost the api-server a request per second (docs/PERFORMANCE.md).
WORKER_MIN_HEARTBEAT_S = 5
# comprehensive_analysis' deadline on every stack (docker-compose.yml has the same default; a test checks it).
ANALYSIS_DEADLINE_S = "600"


def airflow_env(settings: AirflowSettings) -> dict[str, str]:
    """The environment of every Airflow component of one stack (merged over os.environ at start)."""
    if not settings.secrets:
        settings.secrets = load_or_create_secrets(settings.home)
    env = {
        "AIRFLOW_HOME": str(settings.home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.plugins_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": settings.executor,
        # Every component starts after the stack's own `airflow db migrate` (start_init); Airflow's check at each
        # component's start only offers a migration on a terminal, and costs 0.45 CPU-s of alembic per start.
        "AIRFLOW__DATABASE__CHECK_MIGRATIONS": "False",
        # SQLite in AIRFLOW_HOME unless a profile's extra_env names another metadata DB
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{settings.home / 'airflow.db'}",
        "AIRFLOW__CORE__FERNET_KEY": settings.secrets["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": settings.secrets["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": settings.secrets["secret_key"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",  # local only (the demo login is admin/admin)
        "AIRFLOW__API__PORT": str(settings.api_port),
        # The UI's address, for links Airflow builds (the failure mail's link to a task's log).
        "AIRFLOW__API__BASE_URL": settings.api_url,
        "HSS_ANALYSIS_DEADLINE_S": ANALYSIS_DEADLINE_S,
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.username}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(settings.passwords_file),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
        # Fast feedback without burning the CPU the tasks need: on PostgreSQL the scheduler is woken when a task's
        # try ends (hss_airflow.scheduler) and otherwise loops every 1 s (Airflow's default); on SQLite it polls
        # every 0.25 s (1 s: a 2-task DAG 3.4 s; 0.1 s: ~0.7 s but the scheduler then took 0.2 core during
        # batch_analysis); new DAG files are found within 5 s. A file is parsed again when it changes (its mtime:
        # a deploy or a rollback rewrites it, an edit in a DAG folder too), else every 300 s (Airflow's default
        # 30 s re-parsed all 7 files for nothing: 0.15 CPU-s of Airflow per batch song). Measured:
        # docs/PERFORMANCE.md.
        # `make dags-deploy` asks for a parse at once (stack/dags.py), and a changed DAG is stored at once
        # (default: at most every 30 s), so a rollback seconds after a deploy serves at once too.
        IDLE_SLEEP_KEY: str(SCHEDULER_IDLE_SLEEP_S),  # SQLite: below
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": str(WORKER_MIN_HEARTBEAT_S),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.trigger_log_port),
        "PYTHONUNBUFFERED": "1",
        # Empty = unset: every DAG parse and task imports the DAG files, plugins and contracts; with
        # PYTHONDONTWRITEBYTECODE=1 inherited (CI images set it) each of them would compile them again.
        "PYTHONDONTWRITEBYTECODE": "",
        # `airflow` must be on PATH: components start subprocesses by that name.
        "PATH": os.pathsep.join([str(BIN_DIR), os.environ.get("PATH", "")]),
    }
    if settings.data_root is not None:
        env["HSS_DATA_ROOT"] = str(settings.data_root)
    env = {**env, **settings.extra_env}
    if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite") and IDLE_SLEEP_KEY not in settings.extra_env:
        env[IDLE_SLEEP_KEY] = str(POLLING_SCHEDULER_IDLE_SLEEP_S)  # no PostgreSQL to wake it
    return env


def airflow_argv(*args: str) -> list[str]:
    exe = BIN_DIR / "airflow"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "airflow", *args]


def hss_airflow_argv(module: str) -> list[str]:
    python = BIN_DIR / "python"
    return [str(python) if python.exists() else sys.executable, "-m", module]


def dag_processor_argv() -> list[str]:
    """`airflow dag-processor` through hss_airflow.dag_processor (Airflow 3.3's re-parse loop mended)."""
    return hss_airflow_argv("hss_airflow.dag_processor")


def scheduler_argv() -> list[str]:
    """`airflow scheduler` through hss_airflow.scheduler (its idle sleep ended by PostgreSQL when a try ends)."""
    return hss_airflow_argv("hss_airflow.scheduler")


def init_commands(pools_file: Path = POOLS_FILE) -> list[list[str]]:
    """The init step: what compose's init service runs too. Idempotent."""
    return [airflow_argv("db", "migrate"), airflow_argv("pools", "import", str(pools_file))]


def start_init(
    group: ProcessGroup, env: dict[str, str], logs_dir: Path, pools_file: Path = POOLS_FILE
) -> ManagedProcess:
    """Start the init step in the background (one shell running the commands in order); see wait_init."""
    script = " && ".join(shlex.join(argv) for argv in init_commands(pools_file))
    return group.start(
        ManagedProcess(
            "airflow-init",
            ["/bin/sh", "-c", script],
            logs_dir / "airflow-init.log",
            env=env,
            cwd=REPO_ROOT,
            restart="no",  # a one-shot, as compose's airflow-init
        )
    )


def wait_init(process: ManagedProcess, timeout: float = 300.0) -> None:
    """Block until the init step has finished; raise LaunchError with its log tail if it failed."""
    assert process.popen is not None
    try:
        code = process.popen.wait(timeout)
    except subprocess.TimeoutExpired as exc:
        raise LaunchError(f"airflow init still running after {timeout:.0f} s:\n{tail(process.log_path)}") from exc
    if code != 0:
        raise LaunchError(
            f"airflow init failed (exit {code}); last lines of {process.log_path}:\n{tail(process.log_path)}"
        )


def airflow_components(settings: AirflowSettings, env: dict[str, str], logs_dir: Path) -> list[ManagedProcess]:
    """api-server, scheduler, dag-processor, triggerer (not started)."""
    argvs = {
        "api-server": airflow_argv("api-server", "--host", "127.0.0.1", "--port", str(settings.api_port)),
        "scheduler": scheduler_argv(),
        "dag-processor": dag_processor_argv(),
        "triggerer": airflow_argv("triggerer"),
    }
    return [
        ManagedProcess(
            name,
            argv,
            logs_dir / f"{name}.log",
            env=env,
            cwd=REPO_ROOT,
            health_url=f"{settings.api_url}/api/v2/monitor/health" if name == "api-server" else None,
        )
        for name, argv in argvs.items()
    ]


def health(api_url: str) -> dict | None:
    """GET /api/v2/monitor/health (no auth), or None while the api-server does not answer."""
    response = try_get(f"{api_url}/api/v2/monitor/health", timeout=2)
    return response.json() if isinstance(response, requests.Response) and response.ok else None


def execution_api_built(api_url: str) -> bool:
    """GET /execution/health. The execution API builds its versioned routes (Cadwyn) on its first request, holding
    the api-server's event loop 4-13 s here: asked at start, so that a task's first call does not pay for it."""
    response = try_get(f"{api_url}/execution/health", timeout=2)
    return isinstance(response, requests.Response) and response.ok


def component_healthy(name: str, report: dict | None) -> bool:
    """Whether the health report says `name` is up (api-server: it answered at all)."""
    if report is None:
        return False
    if name == "api-server":
        return True
    key = HEARTBEAT_KEYS.get(name)
    return key is not None and (report.get(key) or {}).get("status") == "healthy"


def wait_components(
    processes: list[ManagedProcess],
    started_at: dict[str, float],
    probes: dict[str, Callable[[], bool]],
    *,
    timeout: float,
    progress: Callable[[str], None],
) -> dict[str, float]:
    """Wait until every process passes its probe, reporting them as they get there; return ready times.

    Those seen in the same round share a line: the heartbeats of scheduler, dag-processor and
    triggerer are only visible once the api-server answers.
    """
    pending = list(processes)
    ready: dict[str, float] = {}

    def one_round() -> bool:
        now_ready = []
        for process in list(pending):
            process.check_alive()
            if probes[process.name]():
                ready[process.name] = time.monotonic() - started_at[process.name]
                now_ready.append(process.name)
                pending.remove(process)
        if now_ready:
            progress(f"  {', '.join(now_ready)} ready in {max(ready[n] for n in now_ready):.1f} s")
        return not pending

    try:
        wait_until(one_round, timeout, 0.3, "Airflow's components healthy")
    except WaitTimeout:
        names = ", ".join(p.name for p in pending)
        logs = "\n".join(f"--- {p.log_path}:\n{tail(p.log_path, 20)}" for p in pending)
        raise LaunchError(f"not healthy after {timeout:.0f} s: {names}\n{logs}") from None
    return ready


def runs_tasks(name: str, settings: AirflowSettings, extra_names: set[str]) -> bool:
    """Whether component `name` waits for the execution API (the api-server), which a task calls first: the
    profile's extras (the Celery workers; Flower, Prometheus and Alertmanager beside them, none needed sooner),
    and the scheduler under the LocalExecutor, which runs the tasks itself."""
    return name in extra_names or (name == "scheduler" and settings.executor == LOCAL_EXECUTOR)


def start_airflow(
    group: ProcessGroup,
    settings: AirflowSettings,
    env: dict[str, str],
    logs_dir: Path,
    *,
    extra: list[tuple[ManagedProcess, Callable[[], bool]]] = (),
    timeout: float = 180.0,
    progress: Callable[[str], None] = print,
) -> dict[str, float]:
    """Start the components (plus a profile's `extra` ones) and wait on their health. What runs tasks starts once
    the api-server answers, as compose's workers depend on it being healthy: started together on a busy machine, a
    task the scheduler queued at once (a scheduled run at start) failed its first try when its start call found no
    execution API (connection refused, then a read timeout)."""
    processes = airflow_components(settings, env, logs_dir)
    probes: dict[str, Callable[[], bool]] = {}
    last: list = [0.0, None]  # (when, report): one health request per poll round serves all components

    def report() -> dict | None:
        if time.monotonic() - last[0] > 0.25:
            last[:] = [time.monotonic(), health(settings.api_url)]
        return last[1]

    for process in processes:
        probes[process.name] = lambda name=process.name: component_healthy(name, report())
    api_answers = probes["api-server"]  # enough to start what runs tasks
    probes["api-server"] = lambda: api_answers() and execution_api_built(settings.api_url)
    for process, probe in extra:
        processes.append(process)
        probes[process.name] = probe
    for process in processes:
        process.probe = probes[process.name]  # what a restart waits for (Stack.restart / Stack.crash)
    extra_names = {process.name for process, _ in extra}
    later = [p for p in processes if runs_tasks(p.name, settings, extra_names)]
    first = [p for p in processes if p not in later]
    started_at: dict[str, float] = {}

    def start(batch: list[ManagedProcess]) -> None:
        progress(f"starting {', '.join(p.name for p in batch)}…")
        for process in batch:
            group.start(process)
            started_at[process.name] = time.monotonic()

    start(first)
    api = [p for p in first if p.name == "api-server"]
    wait_components(api, started_at, {"api-server": api_answers}, timeout=timeout, progress=lambda _: None)
    start(later)  # while the api-server builds its execution API, asked for by its full probe below
    return wait_components(processes, started_at, probes, timeout=timeout, progress=progress)
