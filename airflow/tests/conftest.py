"""Airflow test environment: a throwaway AIRFLOW_HOME on SQLite, the repo's DAGs and plugins folder, and
(for the tests that need them) the five services running as real processes on free ports.

The environment is set at import time, before anything imports airflow (it reads its config then).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "airflow" / "dags"
PLUGINS_FOLDER = REPO / "airflow" / "plugins"
POOLS_FILE = REPO / "airflow" / "config" / "pools.json"
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


def _airflow(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env={**os.environ}, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        pytest.fail(
            f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB with the repo's pools (what the init step does on the stack)."""
    _airflow("db", "migrate")
    _airflow("pools", "import", str(POOLS_FILE))
    return _HOME / "airflow.db"


@pytest.fixture(scope="session")
def airflow_data_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hss-airflow-data-"))
    for sub in ("songs", "training_data", "models", "results"):
        (root / sub).mkdir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def live_services(airflow_data_root: Path) -> Iterator[dict[str, str]]:
    """The five services as real processes (API key required); Airflow connections point at them.

    Yields {service name: base URL}. AIRFLOW_CONN_WORKFLOW_* and HSS_DATA_ROOT are set in os.environ
    for the whole session, the way the launcher sets them for Airflow's components.
    """
    from e2e.harness.processes import ProcessGroup
    from e2e.harness.services import connection_uri_env, start_services

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
