"""The Docker Engine API through the docker SDK (the `docker` package): container details, memory, images.

Used instead of parsing `docker inspect` / `docker ps` / `docker stats` text output; compose itself stays a CLI
(testcontainers' DockerCompose). The host is resolved as testcontainers does (DOCKER_HOST, docker context).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker
from testcontainers.core.docker_client import get_docker_host

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL, NUMBER_LABEL = "com.docker.compose.service", "com.docker.compose.container-number"


def docker_client(timeout: float = 30.0) -> docker.DockerClient:
    host = get_docker_host()
    if host:  # an ssh:// host needs the shell's ssh client, as testcontainers uses it
        return docker.DockerClient(base_url=host, timeout=timeout, use_ssh_client=host.startswith("ssh://"))
    return docker.from_env(timeout=timeout)


@contextlib.contextmanager
def opened(timeout: float = 30.0) -> Iterator[docker.DockerClient]:
    client = docker_client(timeout)
    try:
        yield client
    finally:
        client.close()


def inspect_containers(names: list[str]) -> list[dict]:
    """What `docker inspect` shows of each named container (the Engine API's dict: State, Config, RestartCount…);
    a container gone meanwhile is left out."""
    found = []
    with opened() as client:
        for name in names:
            with contextlib.suppress(docker.errors.NotFound):
                found.append(client.api.inspect_container(name))
    return found


def memory_in_use(stats: dict) -> float:
    """A container's memory as `docker stats` shows it: usage minus the inactive page cache (cgroup v2
    `inactive_file`, v1 `total_inactive_file`); 0 when the container does not run."""
    memory = stats.get("memory_stats") or {}
    usage = float(memory.get("usage") or 0)
    details = memory.get("stats") or {}
    cache = details.get("inactive_file", details.get("total_inactive_file", 0))
    return usage - cache if cache < usage else usage


def memory_by_container(names: list[str]) -> dict[str, float]:
    """Memory (bytes, as `docker stats`) of each named container that runs."""
    memory = {}
    with opened() as client:
        for name in names:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                memory[name] = memory_in_use(client.api.stats(name, stream=False))
    return memory


def containers_memory(names: list[str]) -> float:
    """Memory (bytes) summed over the named containers; 0 for none."""
    return sum(memory_by_container(names).values()) if names else 0.0


def in_project(project: str) -> dict[str, str]:
    """The Engine API's container filter for one compose project."""
    return {"label": f"{PROJECT_LABEL}={project}"}


def project_containers(project: str) -> list[str]:
    """The names of the running containers of a compose project."""
    with opened() as client:
        return [c.name for c in client.containers.list(filters=in_project(project))]


def save_project_logs(project: str, logs_dir: Path) -> list[Path]:
    """Every container's log (stdout and stderr in the order written) of a compose project, stopped ones too,
    into <logs_dir>/<service>.log, replicas after the first as <service>-<n>.log (the local stack's names).
    One Engine API call per container: `docker compose logs` per service cost about a second each."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with opened(timeout=120) as client:
        for container in client.containers.list(all=True, filters=in_project(project)):
            labels = container.labels
            service, number = labels.get(SERVICE_LABEL, container.name), labels.get(NUMBER_LABEL, "1")
            path = logs_dir / f"{service}{'' if number == '1' else '-' + number}.log"
            try:
                text = container.logs(stdout=True, stderr=True).decode(errors="replace")
            except docker.errors.APIError as exc:
                text = f"(could not read the log: {exc})"
            path.write_text(text)
            written.append(path)
    return written


def image_size(image: str) -> int | None:
    """An image's size in bytes; None when it is not there."""
    with opened() as client:
        try:
            return int(client.images.get(image).attrs["Size"])
        except docker.errors.ImageNotFound:
            return None
