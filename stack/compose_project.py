"""Docker plumbing for the docker backend: is a daemon there, and compose commands in one named project.

Kept apart from DockerStack so `E2E_BACKEND=auto` can ask `docker_available()` cheaply, and so the
project/env handling (the shell must not override the env file) sits in one place.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import docker
from testcontainers.compose import DockerCompose
from testcontainers.core.docker_client import get_docker_host

from stack.docker_api import opened
from stack.env_file import read_env_file
from stack.paths import REPO_ROOT

LOG_TAIL_LINES = 30


class DockerStackError(RuntimeError):
    """The docker stack did not come up (or a component did not come back); carries compose log tails."""


def docker_daemon_answers(timeout: float = 3.0) -> tuple[bool, str]:
    """Whether a Docker daemon answers a ping; if not, a one-line reason.

    The host is resolved as testcontainers does (TESTCONTAINERS_HOST_OVERRIDE, DOCKER_HOST, docker context).
    """
    shown = get_docker_host() or "unix:///var/run/docker.sock"
    try:
        with opened(timeout) as client:
            client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests' errors, OSError…
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return False, f"no Docker daemon answers at {shown}: {reason}"
    return True, f"a Docker daemon answers at {shown}"


def compose_v2_problem(timeout: float = 15.0) -> str | None:
    """None when `docker compose version` (the command testcontainers runs) works, else what is wrong."""
    command = [*DockerCompose(context=REPO_ROOT).compose_command_property, "version"]
    try:
        subprocess.run(command, capture_output=True, check=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`{' '.join(command)}` fails ({exc}): install the Docker Compose v2 plugin"
    return None


def docker_available(timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the docker backend can run here: a daemon answers and `docker compose` (v2) works; else why not."""
    answers, reason = docker_daemon_answers(timeout)
    if not answers:
        return False, reason
    if problem := compose_v2_problem():
        return False, f"{reason}, but {problem}"
    return True, reason


@dataclass
class ProjectCompose(DockerCompose):
    """testcontainers' DockerCompose whose commands run in one named project and see only the env file's values.

    In compose's interpolation the caller's shell wins over --env-file: an exported HSS_AIRFLOW_HOST_PORT=8080
    or COMPOSE_PROJECT_NAME would pin a port or join another project. So those keys are dropped from the
    environment of every compose command, and the project is named on the command line (a command copied
    from stack.json addresses the same project). testcontainers has no `--scale` and always drops the
    volumes on down; `scale` and `keep_volumes` add both.
    """

    project_name: str = "hss-e2e"
    scale: dict[str, int] = field(default_factory=dict)
    wait_timeout: float = 600.0

    @cached_property
    def compose_command_property(self) -> list[str]:
        return [*super().compose_command_property, "--project-name", self.project_name]

    def subprocess_env(self) -> dict[str, str]:
        file_keys = {key for path in self.env_file or [] if Path(path).exists() for key in read_env_file(path)}
        return {key: value for key, value in os.environ.items() if key not in file_keys}

    def _run_command(self, cmd: str | list[str], context: str | None = None) -> subprocess.CompletedProcess[bytes]:
        # Same contract as DockerCompose._run_command (check=True, captured output, cwd=context), plus our env.
        return subprocess.run(
            cmd, capture_output=True, check=True, cwd=context or str(self.context), env=self.subprocess_env()
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """`docker compose <files> --env-file … --project-name … <args>`, output captured."""
        return self._run_command([*self.compose_command_property, *args])

    def stream(self, *args: str) -> None:
        """The same, its output going to this process's stdout (a build's progress); CalledProcessError on failure."""
        subprocess.run(
            [*self.compose_command_property, *args], check=True, cwd=str(self.context), env=self.subprocess_env()
        )

    def start(self) -> None:
        scale = [f"--scale={service}={count}" for service, count in self.scale.items()]
        self.run("up", "--detach", "--wait", f"--wait-timeout={int(self.wait_timeout)}", *scale)

    def stop(self, down: bool = True, timeout: int | None = None) -> None:
        """`down` (the volumes too unless keep_volumes) or `stop`; `timeout`: seconds before SIGKILL (compose: 10)."""
        grace = ["--timeout", str(timeout)] if timeout is not None else []
        if not down:
            self.run("stop", *grace)
        elif self.keep_volumes:
            self.run("down", *grace)
        else:
            self.run("down", "--volumes", *grace)


# The images compose pulls rather than builds, and the variable that names each (defaults in docker-compose.yml).
BASE_IMAGE_VARIABLES = {"postgres": "HSS_POSTGRES_IMAGE", "redis": "HSS_REDIS_IMAGE"}
BUILD_BASE_ARG = "HSS_PYTHON_IMAGE"  # the base of both images built from uv.lock


def base_images(compose: ProjectCompose) -> dict[str, str]:
    """image → the variable that replaces it, as `docker compose config` resolves them now."""
    config = json.loads(compose.run("config", "--format", "json").stdout)
    images: dict[str, str] = {}
    for name, service in config["services"].items():
        if name in BASE_IMAGE_VARIABLES:
            images[service["image"]] = BASE_IMAGE_VARIABLES[name]
        if base := ((service.get("build") or {}).get("args") or {}).get(BUILD_BASE_ARG):
            images[base] = BUILD_BASE_ARG
    return images


def ensure_base_images(compose: ProjectCompose, progress: Callable[[str], None] = print) -> None:
    """Pull each base image that is not here yet; when one cannot be had, say which and how to replace it."""
    client = docker.from_env()
    try:
        for image, variable in base_images(compose).items():
            try:
                client.images.get(image)
                continue
            except docker.errors.ImageNotFound:
                pass
            progress(f"pulling {image} ({variable})…")
            try:
                client.images.pull(image)
            except docker.errors.APIError as exc:
                reason = " ".join(str(exc).split())[:300]
                raise DockerStackError(
                    f"cannot pull the image {image}: {reason}\n"
                    f"set {variable} to an image this Docker can pull or already has (a registry mirror, e.g. "
                    f"{variable}=mirror.example.com/{image}), in the environment or in .env"
                ) from exc
    finally:
        client.close()


def output_tail(text: str | bytes | None, lines: int = LOG_TAIL_LINES) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])
