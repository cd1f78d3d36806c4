"""The Docker Engine API through the docker SDK (the `docker` package): container details, memory, images.

Used instead of parsing `docker inspect` / `docker ps` / `docker stats` text output; compose itself stays a CLI
(testcontainers' DockerCompose). The host is resolved as testcontainers does (DOCKER_HOST, docker context).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker
from testcontainers.core.docker_client import get_docker_host

PROJECT_LABEL = "com.docker.compose.project"


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


def project_containers(project: str) -> list[str]:
    """The names of the running containers of a compose project."""
    with opened() as client:
        return [c.name for c in client.containers.list(filters={"label": f"{PROJECT_LABEL}={project}"})]


def image_size(image: str) -> int | None:
    """An image's size in bytes; None when it is not there."""
    with opened() as client:
        try:
            return int(client.images.get(image).attrs["Size"])
        except docker.errors.ImageNotFound:
            return None
