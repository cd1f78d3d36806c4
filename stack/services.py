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


def replica_names(service: str, count: int) -> list[str]:
    """Process names of a service's replicas: the first keeps the service's name (what faults and logs address)."""
    if count < 1:
        raise ValueError(f"{service}: replicas must be at least 1, got {count}")
    return [service] + [f"{service}-{index}" for index in range(2, count + 1)]


def start_services(
    group: ProcessGroup,
    *,
    data_root: Path,
    log_dir: Path,
    api_key: str | None = None,
    fixed_ports: bool = False,
    extra_env: dict[str, str] | None = None,
    names: tuple[str, ...] | None = None,
    replicas: dict[str, int] | None = None,
    timeout: float = 120.0,
) -> dict[str, RunningService]:
    """Start the services (all by default), then wait until each answers /ready; keyed by process name.

    `replicas` (service -> N): that service runs as N processes behind a balancer the caller starts, which takes
    the service's own port; its replicas listen on free ports."""
    running: dict[str, RunningService] = {}
    env = service_env(data_root, api_key, extra_env)
    replicas = replicas or {}
    for spec in SERVICES:
        if names is not None and spec.name not in names:
            continue
        balanced = spec.name in replicas
        for name in replica_names(spec.name, replicas.get(spec.name, 1)):
            port = free_port() if balanced else pick_port(spec.port, fixed_ports)
            running[name] = start_service_process(group, spec, name, port, env, log_dir)
    for service in running.values():  # started together, so their start-ups overlap
        service.process.wait_healthy(timeout)
    return running


def start_service_process(
    group: ProcessGroup, spec: ServiceSpec, name: str, port: int, env: dict[str, str], log_dir: Path
) -> RunningService:
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
        ManagedProcess(name, argv, log_dir / f"{name}.log", env=env, cwd=REPO_ROOT, health_url=f"{url}/ready")
    )
    return RunningService(spec, url, process)


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
