"""docker-compose.worker-host.yml, rendered by docker-compose 1.29 from worker-host.env.example: a worker host takes
the audio queue alone, calls its own workflow-audio replica, and is handed only the addresses and secrets it must
have — each check also fails on a broken copy of the file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from contracts.catalog import AUDIO, AUDIO_QUEUE
from e2e.tests.compose_render import BASE, render
from e2e.tests.test_compose_config import environment, published_ports
from stack.paths import REPO_ROOT

WORKER_HOST = REPO_ROOT / "docker-compose.worker-host.yml"
ENV_EXAMPLE = REPO_ROOT / "worker-host.env.example"
# Everything the worker host's Airflow worker is given: the broker and result backend (addresses and passwords), the
# execution API, the secret key its log server checks, the Celery tuning, the DAG bundle, its own replica, the data
# root. Not the JWT secret: the tasks' execution-API tokens come with the tasks.
NEEDED = {
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY",
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
    "AIRFLOW_CONN_HSS_DAGS_REPO",
    AUDIO.env_var,
    "HSS_DATA_ROOT",
}


def example_values() -> dict[str, str]:
    lines = [line.strip() for line in ENV_EXAMPLE.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def worker_host(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render(tmp_path_factory.mktemp("worker-host"), [WORKER_HOST], example_values())


@pytest.fixture(scope="module")
def main_host(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from e2e.tests.compose_render import example_env

    return render(tmp_path_factory.mktemp("main-host"), [BASE], example_env())


def problems(cfg: dict[str, Any], main: dict[str, Any]) -> list[str]:
    found = []
    worker, audio = cfg["services"]["audio-worker"], cfg["services"][AUDIO.name]
    env = environment(worker)
    if extra := set(env) - NEEDED:
        found.append(f"audio-worker is given more than it needs: {sorted(extra)}")
    if missing := NEEDED - set(env):
        found.append(f"audio-worker lacks {sorted(missing)}")
    command = worker["command"] if isinstance(worker["command"], list) else worker["command"].split()
    if command[command.index("--queues") + 1] != AUDIO_QUEUE:
        found.append(f"audio-worker consumes {command}, not the {AUDIO_QUEUE} queue alone")
    connection = json.loads(env.get(AUDIO.env_var, "{}"))
    if (connection.get("host"), connection.get("port")) != (AUDIO.name, AUDIO.port):
        found.append(f"audio-worker's {AUDIO.env_var} points at {connection}, not this host's own replica")
    if published_ports(audio):
        found.append(f"{AUDIO.name} publishes {audio['ports']}: only this host's workers call it")
    main_env = environment(main["services"]["airflow-worker"])
    same = ("DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", "CELERY__CELERY_CONFIG_OPTIONS", "WORKERS__MIN_HEARTBEAT_INTERVAL")
    for key in (f"AIRFLOW__{name}" for name in same):
        if env.get(key) != main_env.get(key):
            found.append(f"{key} differs from the main host's workers")
    return found


def test_the_worker_host_takes_the_audio_queue_with_its_own_replica_and_only_what_it_needs(
    worker_host: dict, main_host: dict
) -> None:
    assert problems(worker_host, main_host) == []
    main_worker = main_host["services"]["airflow-worker"]["command"]
    assert AUDIO_QUEUE in main_worker[main_worker.index("--queues") + 1].split(",")  # the main host takes it too


def _more_secrets(cfg: dict) -> None:
    cfg["services"]["audio-worker"]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] = "x"


def _every_queue(cfg: dict) -> None:
    cfg["services"]["audio-worker"]["command"] = ["celery", "worker", "--queues", "default,audio"]


def _main_replica(cfg: dict) -> None:
    env = cfg["services"]["audio-worker"]["environment"]
    env[AUDIO.env_var] = env[AUDIO.env_var].replace('"host": "workflow-audio"', '"host": "main-host"')


def _published_replica(cfg: dict) -> None:
    cfg["services"][AUDIO.name]["ports"] = ["127.0.0.1:8001:8001/tcp"]


@pytest.mark.parametrize("break_it", [_more_secrets, _every_queue, _main_replica, _published_replica])
def test_each_check_fails_on_a_broken_worker_host(worker_host: dict, main_host: dict, break_it) -> None:
    broken = copy.deepcopy(worker_host)
    break_it(broken)
    assert problems(broken, main_host), f"{break_it.__name__} went unnoticed"


def test_a_missing_address_stops_compose_with_what_to_set(tmp_path: Path) -> None:
    from e2e.tests.compose_render import run_config

    values = {key: value for key, value in example_values().items() if key != "HSS_MAIN_REDIS"}
    result = run_config(tmp_path, [WORKER_HOST], values)
    assert result.returncode != 0 and "the main host's Redis as host:port" in result.stderr
