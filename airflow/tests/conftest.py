"""Airflow test environment: a throwaway AIRFLOW_HOME on SQLite, the repo's DAGs and plugins folder, and
(for the tests that need them) the five services running as real processes on free ports.

The environment is set at import time, before anything imports airflow (it reads its config then).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.data_layout import DataLayout
from fixtures.http_fakes import JsonHandler, LocalServer
from stack import db_template
from stack.airflow_stack import init_commands
from stack.paths import DAGS_SOURCE as DAGS_FOLDER
from stack.paths import PLUGINS_FOLDER, POOLS_FILE

API_KEY = "test-api-key"

_HOME = Path(tempfile.mkdtemp(prefix="hss-airflow-test-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
}
os.environ.update(AIRFLOW_ENV)


def _run_init_step() -> None:
    """The stacks' init step (stack.airflow_stack.init_commands: db migrate, pools import) on this session's DB."""
    for argv in init_commands(POOLS_FILE):
        result = subprocess.run(argv, env={**os.environ}, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.fail(
                f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )


def _run_fresh_python(code: str, env: dict[str, str] | None = None) -> Any:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def fresh_python() -> Callable[..., Any]:
    """`fresh_python(code, env=None)`: run `code` in a new interpreter, as a component's process starts, and return
    the JSON its last line of output prints (what it had imported before it forked, say)."""
    return _run_fresh_python


@pytest.fixture
def task_process_env() -> dict[str, str]:
    """The environment for `fresh_python` as a worker forks tasks: the repo's plugins folder, nothing of this
    process's own (its AIRFLOW_HOME, its settings)."""
    return {"PATH": "/usr/bin:/bin", "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER)}


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB with the repo's pools (what the init step does on the stack): a copy of the
    cached one when this Airflow and these pools made one before (stack.db_template), as `make demo` does."""
    if not db_template.seed(AIRFLOW_ENV, POOLS_FILE):
        _run_init_step()
        db_template.keep(AIRFLOW_ENV, POOLS_FILE)
    return _HOME / "airflow.db"


@pytest.fixture(scope="session")
def airflow_data_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hss-airflow-data-"))
    for folder in DataLayout(root).all_folders():
        folder.mkdir(parents=True, exist_ok=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def live_services(airflow_data_root: Path) -> Iterator[dict[str, str]]:
    """The five services as real processes (API key required); Airflow connections point at them.

    Yields {service name: base URL}. AIRFLOW_CONN_WORKFLOW_* and HSS_DATA_ROOT are set in os.environ
    for the whole session, the way the launcher sets them for Airflow's components.
    """
    from stack.processes import ProcessGroup
    from stack.services import connection_uri_env, start_services

    log_dir = _HOME / "service-logs"
    with ProcessGroup() as group:
        running = start_services(
            group,
            data_root=airflow_data_root,
            log_dir=log_dir,
            api_key=API_KEY,
            extra_env={"HSS_AUDIO_POOL_SIZE": "1"},
        )
        urls = {name: service.url for name, service in running.items()}
        env = {**connection_uri_env(urls, API_KEY), "HSS_DATA_ROOT": str(airflow_data_root)}
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield urls
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root (HSS_DATA_ROOT) with an empty training_data/, for the hss_airflow module tests."""
    monkeypatch.setenv("HSS_DATA_ROOT", str(tmp_path))
    (tmp_path / "training_data").mkdir()
    return tmp_path.resolve()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


# --- a scripted fake service (the operator and trigger tests) ----------------------------------


class FakeService:
    """Answers request n with steps[n] (the last step repeats): (status, body, headers, delay_s)."""

    def __init__(self, steps: list[tuple[int, Any, dict[str, str], float]]) -> None:
        self.steps = steps
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(JsonHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake._lock:
                    step = fake.steps[min(len(fake.calls), len(fake.steps) - 1)]
                    fake.calls.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "at": time.monotonic()}
                    )
                status, payload, headers, delay = step
                time.sleep(delay)
                self.send_json(status, payload, headers)

            do_GET = do_POST = _answer

        self._local = LocalServer(Handler)
        self.port = self._local.port

    def close(self) -> None:
        self._local.close()


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, port: int, api_key: str | None = None) -> str:
    """An Airflow connection as an env var, the way the launcher defines them (JSON, API key as password)."""
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "password": api_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture
def http_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """http_connection(conn_id, port, api_key=None) -> conn_id: set_connection for this test only."""
    return lambda conn_id, port, api_key=None: set_connection(monkeypatch, conn_id, port, api_key)


@pytest.fixture
def execute_outside_task_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's unit-test mode: calling an operator's `execute` directly is expected (the operator tests)."""
    from airflow.sdk.bases.operator import ExecutorSafeguard

    monkeypatch.setattr(ExecutorSafeguard, "test_mode", True)


@pytest.fixture
def fake_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[FakeService, str]]]:
    """fake_service(*steps) -> (server, conn_id): an Airflow connection (env var) with API key 'fake-key'."""
    started: list[FakeService] = []

    def start(*steps: tuple[int, Any, dict[str, str], float]) -> tuple[FakeService, str]:
        service = FakeService(list(steps))
        started.append(service)
        return service, set_connection(monkeypatch, f"fake_service_{len(started)}", service.port, "fake-key")

    yield start
    for service in started:
        service.close()
