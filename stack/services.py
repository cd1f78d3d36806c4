"""The five services as uvicorn processes, and the Airflow connections that point at them."""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from contracts.catalog import SERVICES, ServiceSpec
from contracts.deployment_secrets import MODEL_SIGNING_KEY_ENV
from stack.paths import REPO_ROOT
from stack.processes import ManagedProcess, ProcessGroup, free_port, port_is_free


@dataclass(frozen=True)
class RunningService:
    spec: ServiceSpec
    url: str
    process: ManagedProcess


def pick_port(preferred: int, fixed_ports: bool) -> int:
    """The seed's port when it is free (and wanted), otherwise any free port."""
    return preferred if fixed_ports and port_is_free(preferred) else free_port()


def service_env(data_root: Path, api_key: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The services' environment. Without a model signing key in `extra`, one is generated for this start: models
    trained now load while these processes run. Stacks sharing a data root over time pass `.env`'s key."""
    env = {"HSS_DATA_ROOT": str(data_root), "PYTHONUNBUFFERED": "1", MODEL_SIGNING_KEY_ENV: secrets.token_urlsafe(32)}
    if api_key:
        env["HSS_API_KEY"] = api_key
    return {**env, **(extra or {})}


def start_services(
    group: ProcessGroup,
    *,
    data_root: Path,
    log_dir: Path,
    api_key: str | None = None,
    fixed_ports: bool = False,
    extra_env: dict[str, str] | None = None,
    names: tuple[str, ...] | None = None,
    timeout: float = 120.0,
) -> dict[str, RunningService]:
    """Start the services (all by default), then wait until each answers /ready."""
    running: dict[str, RunningService] = {}
    env = service_env(data_root, api_key, extra_env)
    for spec in SERVICES:
        if names is not None and spec.name not in names:
            continue
        port = pick_port(spec.port, fixed_ports)
        url = f"http://127.0.0.1:{port}"
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            spec.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ]
        process = group.start(
            ManagedProcess(
                spec.name, argv, log_dir / f"{spec.name}.log", env=env, cwd=REPO_ROOT, health_url=f"{url}/ready"
            )
        )
        running[spec.name] = RunningService(spec, url, process)
    for service in running.values():  # started together, so their start-ups overlap
        service.process.wait_healthy(timeout)
    return running


def connection_uri_env(urls: dict[str, str], api_key: str | None) -> dict[str, str]:
    """AIRFLOW_CONN_WORKFLOW_* for each service: JSON connections, the API key as the password."""
    env = {}
    for spec in SERVICES:
        if spec.name not in urls:
            continue
        scheme, _, hostport = urls[spec.name].partition("://")
        host, _, port = hostport.partition(":")
        conn = {"conn_type": "http", "host": host, "port": int(port), "schema": scheme}
        if api_key:
            conn["password"] = api_key
        env[spec.env_var] = json.dumps(conn)
    return env
