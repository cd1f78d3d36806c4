"""`LocalStack`: the five services and Airflow as local processes, under one state folder.

    stack = LocalStack()            # profile "embedded": SQLite + LocalExecutor, state in .stack/
    stack.up()                      # progress lines; raises LaunchError with the log tail of a failure
    ...stack.airflow_url, stack.username, stack.password, stack.service_urls, stack.api_key…
    stack.down()                    # stops only what up() started (also used as a context manager)

State folder layout: airflow/ (AIRFLOW_HOME: SQLite DB, passwords file, task logs), data/ (default
HSS_DATA_ROOT), logs/<component>.log, and stack.json while the stack runs — what scripts and CI read.

Profiles decide the metadata DB, the executor and any backing/extra processes; "celery" (throwaway
PostgreSQL via initdb, redis-server, CeleryExecutor, worker, flower) plugs into the same hooks.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

from e2e.harness.airflow_stack import (
    DAGS_FOLDER,
    AirflowSettings,
    airflow_env,
    start_airflow,
    start_init,
    wait_init,
    write_passwords_file,
    write_private_json,
)
from e2e.harness.processes import LaunchError, ManagedProcess, ProcessGroup
from e2e.harness.services import connection_uri_env, pick_port, start_services

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO_ROOT / ".stack"
DATA_SUBDIRS = ("songs", "training_data", "models", "results")
AIRFLOW_PORT = 8080


class Profile:
    """How a stack keeps its metadata and runs its tasks. Hooks are called by LocalStack.up()."""

    name = ""
    executor = ""

    def start_backends(self, stack: LocalStack) -> dict[str, str]:
        """Start backing processes (database, broker) in stack.group; return Airflow env overrides."""
        raise NotImplementedError

    def extra_components(self, stack: LocalStack, env: dict[str, str]) -> list[tuple[ManagedProcess, Callable]]:
        """Airflow processes beyond api-server/scheduler/dag-processor/triggerer, with health probes."""
        return []

    def urls(self, stack: LocalStack) -> dict[str, str]:
        """Extra URLs for stack.json (e.g. Flower)."""
        return {}


class EmbeddedProfile(Profile):
    """SQLite in AIRFLOW_HOME + LocalExecutor: nothing to start beyond Airflow itself."""

    name = "embedded"
    executor = "LocalExecutor"

    def start_backends(self, stack: LocalStack) -> dict[str, str]:
        return {}  # airflow_env's default metadata DB: SQLite in AIRFLOW_HOME


PROFILES: dict[str, type[Profile]] = {"embedded": EmbeddedProfile}
PLANNED_PROFILES = {"celery": "PostgreSQL + Redis + CeleryExecutor + worker + Flower (next issue)"}


def get_profile(name: str) -> Profile:
    if name in PROFILES:
        return PROFILES[name]()
    if name in PLANNED_PROFILES:
        raise NotImplementedError(f"profile {name!r} is not implemented yet: {PLANNED_PROFILES[name]}")
    raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM inside the block (only the main thread may change handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def groups_left(pgids: list[int], timeout: float = 10.0) -> list[int]:
    """The process groups (one per started process) that still hold a process after `timeout` seconds.

    Killed pool workers and forks are reaped a moment after their leader: give them that moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pgid in pgids:
            try:
                os.killpg(pgid, 0)
                left.append(pgid)
            except ProcessLookupError:
                pass
            except PermissionError:
                left.append(pgid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


class LocalStack:
    def __init__(
        self,
        profile: str = "embedded",
        *,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        data_root: Path | str | None = None,
        dags_folder: Path | str = DAGS_FOLDER,
        fixed_ports: bool = True,
        username: str = "admin",
        password: str = "admin",
        api_key: str | None = None,
        with_services: bool = True,
        service_env: dict[str, str] | None = None,
        progress: Callable[[str], None] = print,
        timeout: float = 240.0,
    ) -> None:
        self.profile = get_profile(profile)
        self.state_dir = Path(state_dir).resolve()
        self.data_root = Path(data_root).resolve() if data_root else self.state_dir / "data"
        self.dags_folder = Path(dags_folder).resolve()
        self.fixed_ports = fixed_ports
        self.username, self.password = username, password
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.with_services = with_services
        self.service_env = service_env or {}
        self.progress = progress
        self.timeout = timeout
        self.group = ProcessGroup()
        self._phase_starts: list[int] = [0]  # index in group.processes where each start phase began
        self._wrote_stack_file = False
        self.service_urls: dict[str, str] = {}
        self.ready_times: dict[str, float] = {}
        self.settings: AirflowSettings | None = None

    # --- locations -------------------------------------------------------------------------------
    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def airflow_url(self) -> str:
        if self.settings is None:
            raise RuntimeError("the stack is not up")
        return self.settings.api_url

    # --- lifecycle -------------------------------------------------------------------------------
    def up(self) -> LocalStack:
        """Start everything and wait on health; on any error (or Ctrl-C) stop what was started."""
        self._refuse_if_running()
        started = time.monotonic()
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        self.ready_times["stack"] = time.monotonic() - started
        self.write_stack_file()
        self.progress(f"stack ready in {self.ready_times['stack']:.1f} s — Airflow {self.airflow_url}")
        return self

    def _up(self) -> None:
        for sub in DATA_SUBDIRS:
            (self.data_root / sub).mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        port = pick_port(AIRFLOW_PORT, self.fixed_ports)
        self.settings = AirflowSettings(
            home=self.airflow_home,
            api_port=port,
            executor=self.profile.executor,
            dags_folder=self.dags_folder,
            username=self.username,
            password=self.password,
            data_root=self.data_root,
        )
        write_passwords_file(self.settings)
        self.settings.extra_env.update(self.profile.start_backends(self))
        self._phase_starts.append(len(self.group.processes))
        # The DB migration (~15 s of CPU) runs while the services warm up (~20 s).
        self.progress("starting airflow init (db migrate, pools import)…")
        init_started = time.monotonic()
        init = start_init(self.group, airflow_env(self.settings), self.logs_dir)
        if self.with_services:
            self.progress("starting 5 services…")
            t0 = time.monotonic()
            running = start_services(
                self.group,
                data_root=self.data_root,
                log_dir=self.logs_dir,
                api_key=self.api_key,
                fixed_ports=self.fixed_ports,
                extra_env=self.service_env,
                timeout=self.timeout,
            )
            self.service_urls = {name: service.url for name, service in running.items()}
            self.ready_times["services"] = time.monotonic() - t0
            self.progress(f"  services ready in {self.ready_times['services']:.1f} s")
        wait_init(init, self.timeout)
        self.ready_times["airflow-init"] = time.monotonic() - init_started
        self.progress(f"  airflow init done in {self.ready_times['airflow-init']:.1f} s")
        self._phase_starts.append(len(self.group.processes))
        self.settings.extra_env.update(connection_uri_env(self.service_urls, self.api_key))
        env = airflow_env(self.settings)
        self.ready_times.update(
            start_airflow(
                self.group,
                self.settings,
                env,
                self.logs_dir,
                extra=self.profile.extra_components(self, env),
                timeout=self.timeout,
                progress=self.progress,
            )
        )

    def down(self) -> None:
        """Stop what up() started, phase by phase in reverse (Airflow, services, backends), each in parallel.

        Ctrl-C and SIGTERM are held off meanwhile (main thread): a second Ctrl-C must not leave half
        a stack running. Each stop is bounded (SIGKILL after a grace period).
        """
        with signals_held():
            self._down()

    def _down(self) -> None:
        processes = self.group.processes
        alive = [p for p in processes if p.alive()]
        if alive:
            self.progress(f"stopping {len(alive)} processes…")
        bounds = [*self._phase_starts, len(processes)]
        for start, end in reversed(list(pairwise(bounds))):
            if layer := [p for p in processes[start:end] if p.alive()]:
                with ThreadPoolExecutor(len(layer)) as pool:
                    list(pool.map(lambda p: p.stop(), layer))
        pgids = [p.pid for p in self.group.processes if p.pid is not None]  # each leads its own group
        for pgid in groups_left(pgids):
            self.progress(f"warning: process group {pgid} still has processes after stop")
        self.group.processes.clear()
        self._phase_starts = [0]
        if self._wrote_stack_file:  # never another stack's (up() refused to start next to it)
            with contextlib.suppress(FileNotFoundError):
                self.stack_file.unlink()
            self._wrote_stack_file = False

    def __enter__(self) -> LocalStack:
        return self.up()

    def __exit__(self, *_: object) -> None:
        self.down()

    # --- stack.json ------------------------------------------------------------------------------
    def info(self) -> dict:
        """What scripts and CI read (DESIGN.md): URLs, login, API key, data root, pids."""
        return {
            "profile": self.profile.name,
            "executor": self.profile.executor,
            "airflow": {
                "url": self.airflow_url,
                "api": f"{self.airflow_url}/api/v2",
                "username": self.username,
                "password": self.password,
            },
            "services": self.service_urls,
            "api_key": self.api_key,
            "data_root": str(self.data_root),
            "dags_folder": str(self.dags_folder),
            "airflow_home": str(self.airflow_home),
            "logs_dir": str(self.logs_dir),
            "pids": {p.name: p.pid for p in self.group.processes if p.alive()},
            **self.profile.urls(self),
        }

    def write_stack_file(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_private_json(self.stack_file, self.info())
        self._wrote_stack_file = True
        return self.stack_file

    def _refuse_if_running(self) -> None:
        """Two stacks must not share one state folder (one SQLite DB, one stack.json)."""
        if not self.stack_file.exists():
            return
        try:
            pids = json.loads(self.stack_file.read_text()).get("pids", {})
        except (OSError, ValueError):
            pids = {}
        left = groups_left(list(pids.values()), timeout=0)  # every started process leads its own group
        alive = {name: pid for name, pid in pids.items() if pid in left}
        if alive:
            groups = " ".join(f"-{pid}" for pid in alive.values())
            raise LaunchError(
                f"a stack already runs from {self.state_dir} ({', '.join(alive)}); stop it with Ctrl-C in its "
                f"terminal (or, if that terminal is gone: kill -TERM -- {groups}), or use another state folder"
            )
        self.stack_file.unlink()  # left by a stack that was killed
