"""`LocalStack`: the five services and Airflow as local processes, under one state folder.

    stack = LocalStack(StackConfig())   # profile "embedded": SQLite + LocalExecutor, state in .stack/
    stack.up()                      # progress lines; raises LaunchError with the log tail of a failure
    ...stack.airflow_url, stack.username, stack.password, stack.service_urls, stack.api_key…
    stack.down()                    # stops only what up() started (also used as a context manager)

State folder layout: airflow/ (AIRFLOW_HOME: SQLite DB, passwords file, task logs), data/ (default
HSS_DATA_ROOT, in contracts.data_layout's layout; layout-1 song results are moved at every start),
logs/<component>.log, and stack.json while the stack runs — what scripts and CI read. `make up` runs it in the
background (stack/local_control.py, stack/launcher.py: a detached `python -m stack serve`).

Profiles (stack/profiles.py) decide the metadata DB, the executor and any backing/extra
processes: "embedded" (SQLite + LocalExecutor, `make demo`) or "celery" (throwaway PostgreSQL,
redis-server, CeleryExecutor, worker, Flower: the compose topology, `make up` and `make e2e`).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

from contracts.data_layout import DataLayout
from stack import db_template
from stack.airflow_stack import (
    AirflowSettings,
    airflow_env,
    start_airflow,
    start_init,
    wait_init,
    write_passwords_file,
    write_private_json,
)
from stack.balancer import LocalBalancer
from stack.base import FlowerAccess, Stack
from stack.config import StackConfig
from stack.dag_repo import BUNDLE_NAME, DagRepo, bundle_env, trusted_repo_env
from stack.data_folders import prepare_data_root, private_folders, unsigned_model_warning
from stack.local_control import LocalControl
from stack.local_scaling import LocalScaling
from stack.mail import smtp_connection_env, start_mail_sink
from stack.memory import groups_pss
from stack.paths import AUDIO_SERVICE, POOLS_FILE, STATE_DIR
from stack.process_control import groups_left
from stack.process_faults import COMPOSE_NAMES, ProcessFaults
from stack.processes import LaunchError, ProcessGroup
from stack.profiles import CeleryProfile, get_profile
from stack.services import connection_uri_env, pick_port, start_services
from stack.supervisor import Supervisor

DEFAULT_STATE_DIR = STATE_DIR
DEFAULT_TIMEOUT = 240.0  # each start and health wait
AIRFLOW_PORT = 8080


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


class LocalStack(LocalControl, LocalScaling, ProcessFaults, Stack):
    backend = "local"

    def __init__(self, config: StackConfig | None = None, *, progress: Callable[[str], None] = print) -> None:
        self.config = config = config or StackConfig()
        self.profile = get_profile(config.profile, config.workers)
        self.state_dir = config.state_dir
        self.data_root = config.data_root or self.state_dir / "data"
        self.mail_dir = self.state_dir / "mail"  # the SMTP sink's messages, one .eml file each
        self.dags_folder = config.dags_folder
        self.fixed_ports = config.fixed_ports
        self.username, self.password = config.username, config.password
        self.api_key = config.api_key or secrets.token_urlsafe(24)
        self.flower_username = config.flower_username
        self.flower_password = config.flower_password or secrets.token_urlsafe(16)
        self.extra_info: dict = {}  # merged into stack.json (e.g. the launcher's pid)
        self.with_services = config.with_services
        self.metrics = config.metrics
        self.service_env = dict(config.service_env)
        self.airflow_env = dict(config.airflow_env)  # HSS_* settings of the Airflow components
        self.progress = progress
        self.timeout = config.timeout or DEFAULT_TIMEOUT
        self.group = ProcessGroup()
        self._phase_starts: list[int] = [0]  # index in group.processes where each start phase began
        self._wrote_stack_file = False
        self.service_urls: dict[str, str] = {}  # what callers use: workflow-audio's is its balancer's
        self.service_processes: list[tuple[str, str]] = []  # (service, URL) of each service process, replicas too
        # The compose topology (profile "celery") puts workflow-audio behind HAProxy; the embedded demo calls it.
        self.balancer: LocalBalancer | None = None
        if isinstance(self.profile, CeleryProfile):
            self.balancer = LocalBalancer(self.state_dir / "balancer", self.logs_dir, self.fixed_ports)
        elif config.audio_replicas > 1:
            raise ValueError("audio_replicas needs the full stack (profile 'celery'): the demo has no balancer")
        self.audio_replicas = config.audio_replicas
        self.smtp_port = 0
        self.ready_times: dict[str, float] = {}
        self.settings: AirflowSettings | None = None
        self.dag_repo: DagRepo | None = None
        self.supervisor: Supervisor | None = None  # restarts what dies, from up() until down()
        self._stack_file_lock = threading.Lock()

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

    @property
    def flower(self) -> FlowerAccess | None:
        if not isinstance(self.profile, CeleryProfile) or not self.profile.flower_port:
            return None
        return FlowerAccess(self.profile.flower_url(), self.flower_username, self.flower_password)

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
        self.supervisor = Supervisor(self.group, on_change=self._supervision_changed, say=self.progress).start()
        self.write_stack_file()
        self.progress(f"stack ready in {self.ready_times['stack']:.1f} s — Airflow {self.airflow_url}")
        return self

    def _up(self) -> None:
        if moved := prepare_data_root(self.data_root):
            self.progress(f"moved the results of {len(moved)} song(s) to {DataLayout(self.data_root).song_results}")
        private_folders(self.mail_dir)
        if warning := unsigned_model_warning(self.data_root):
            self.progress(warning)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        port = pick_port(AIRFLOW_PORT, self.fixed_ports)
        self.settings = AirflowSettings(
            home=self.airflow_home,
            api_port=port,
            executor=self.profile.executor,
            parallelism=self.profile.parallelism,
            dags_folder=self.dags_folder,
            username=self.username,
            password=self.password,
            data_root=self.data_root,
        )
        write_passwords_file(self.settings)
        if self.profile.git_dag_bundle:
            self.dag_repo = DagRepo(self.state_dir / "dags.git")
            self.progress(self.dag_repo.sync(self.dags_folder))
            self.settings.extra_env.update(
                {
                    **bundle_env(self.dag_repo.path),
                    # also when the docker stack handed it to its uid
                    **trusted_repo_env(self.dag_repo.path, self.airflow_home),
                    # this stack's own clones, not the machine-wide default under /tmp
                    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(self.airflow_home / "dag_bundles"),
                }
            )
        self.settings.extra_env.update(self.profile.start_backends(self))
        self.smtp_port = start_mail_sink(
            self.group, self.mail_dir, self.logs_dir, fixed_ports=self.fixed_ports, timeout=self.timeout
        )
        self.settings.extra_env.update({**smtp_connection_env("127.0.0.1", self.smtp_port), **self.airflow_env})
        self._phase_starts.append(len(self.group.processes))
        # The DB migration (~8 CPU-s, 9 s: longer than the services' start) runs while the services warm up. A new
        # DB is restored from the one the first such init made, when one is cached for this Airflow and these pools
        # (stack.db_template: a copy of the SQLite file, a pg_dump of PostgreSQL's database).
        init_started = time.monotonic()
        init_env = airflow_env(self.settings)
        if template := db_template.seed(init_env, POOLS_FILE):
            self.progress(f"airflow DB restored from {template} (migrated before, same Airflow and pools)")
            init = None
        else:
            self.progress("starting airflow init (db migrate, pools import)…")
            init = start_init(self.group, init_env, self.logs_dir)
        if self.with_services:
            self.progress("starting 5 services…")
            t0 = time.monotonic()
            self._start_services()
            self.ready_times["services"] = time.monotonic() - t0
            self.progress(f"  services ready in {self.ready_times['services']:.1f} s")
        if init is not None:
            wait_init(init, self.timeout)
            db_template.keep(init_env, POOLS_FILE)  # before any component opens the DB
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

    def _start_services(self) -> None:
        """The five services; with the balancer, workflow-audio's replicas on free ports and HAProxy on its port."""
        balanced = {AUDIO_SERVICE: self.audio_replicas} if self.balancer else {}
        if self.balancer:
            self.balancer.reserve_ports()  # first: the service's own port (8001) is the balancer's
        running = start_services(
            self.group,
            data_root=self.data_root,
            log_dir=self.logs_dir,
            api_key=self.api_key,
            fixed_ports=self.fixed_ports,
            extra_env=self.service_env,
            replicas=balanced,
            timeout=self.timeout,
        )
        self.service_processes = [(service.spec.name, service.url) for service in running.values()]
        self.service_urls = {service.spec.name: service.url for service in running.values()}  # one per service
        if self.balancer:
            replicas = {name: service.url for name, service in running.items() if service.spec.name == AUDIO_SERVICE}
            self.group.start(self.balancer.process(replicas)).wait_healthy(self.timeout)
            self.service_urls[AUDIO_SERVICE] = self.balancer.url

    def down(self) -> None:
        """Stop what up() started, phase by phase in reverse (Airflow, services, backends), each in parallel.

        Ctrl-C and SIGTERM are held off meanwhile (main thread): a second Ctrl-C must not leave half
        a stack running. Each stop is bounded (SIGKILL after a grace period).
        """
        with signals_held():
            self._down()

    def _down(self) -> None:
        if self.supervisor is not None:  # first: nothing may be restarted while the stack stops
            self.supervisor.stop()
            self.supervisor = None
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
        self.profile.cleanup(self)
        if self._wrote_stack_file:  # never another stack's (up() refused to start next to it)
            with contextlib.suppress(FileNotFoundError):
                self.stack_file.unlink()
            self._wrote_stack_file = False

    def __enter__(self) -> LocalStack:
        return self.up()

    def __exit__(self, *_: object) -> None:
        self.down()

    # --- faults and logs (the Stack interface) -------------------------------------------------------
    def _process(self, component: str):
        name = COMPOSE_NAMES.get(component, component)
        try:
            return self.group.get(name)
        except KeyError:
            known = ", ".join(p.name for p in self.group.processes)
            raise KeyError(f"no component {component!r} in this stack (running: {known})") from None

    def _supervision_changed(self) -> None:
        if self._wrote_stack_file:  # pids changed: make down and make status read them from stack.json
            self.write_stack_file()

    def memory_bytes(self) -> float:
        """PSS summed over every process of the stack (each started process leads its own group)."""
        return groups_pss({p.pid for p in self.group.processes if p.pid is not None})

    def logs(self, component: str) -> str:
        path = self.logs_dir / f"{COMPOSE_NAMES.get(component, component)}.log"
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            raise KeyError(f"no log for {component!r} under {self.logs_dir}") from None

    # --- stack.json ------------------------------------------------------------------------------
    def info(self) -> dict:
        """What scripts and CI read: URLs, login, API key, data root, pids."""
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
            "mail_dir": str(self.mail_dir),
            "dags_folder": str(self.dags_folder),
            **({"dag_bundle": {"name": BUNDLE_NAME, "repo": str(self.dag_repo.path)}} if self.dag_repo else {}),
            "airflow_home": str(self.airflow_home),
            "logs_dir": str(self.logs_dir),
            "pids": {p.name: p.pid for p in self.group.processes if p.alive()},
            "supervision": self.supervisor.report() if self.supervisor else {},
            "backend": self.backend,
            "workers": self.profile.workers if isinstance(self.profile, CeleryProfile) else 0,
            **(self._balancer_info() if self.balancer else {}),
            **self.profile.urls(self),
            **self.extra_info,
        }

    def write_stack_file(self) -> Path:
        with self._stack_file_lock:  # the supervisor's thread rewrites it too
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
