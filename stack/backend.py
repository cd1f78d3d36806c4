"""Which full-stack backend runs the e2e tests, and the `Stack` for it.

    backend = resolve_backend()                 # E2E_BACKEND=auto|docker|local (default auto)
    stack = make_stack(backend, StackConfig(profile="celery", state_dir=tmp))  # DockerStack or LocalStack

auto picks docker when a Docker daemon answers (and `docker compose` works), local otherwise. Asking for
docker explicitly where no daemon answers raises DockerUnavailable: the tests' fixture turns exactly that
into a skip. A daemon without the Compose v2 plugin is a setup error (RuntimeError), not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from stack.base import Stack
from stack.compose_project import compose_v2_problem, docker_available, docker_daemon_answers
from stack.config import StackConfig
from stack.docker_stack import DockerStack
from stack.paths import ENV_FILE

BACKENDS = ("auto", "docker", "local")
ENV_VAR = "E2E_BACKEND"


class DockerUnavailable(RuntimeError):
    """E2E_BACKEND=docker, but no Docker daemon answers; the message is docker_available()'s reason.

    The full-stack fixture skips with f"docker backend: {exc}" ("docker backend: no Docker daemon answers …").
    """


def resolve_backend(requested: str | None = None) -> str:
    """ "docker" or "local" for `requested` (default: $E2E_BACKEND, default "auto")."""
    raw = requested if requested is not None else os.environ.get(ENV_VAR, "auto")
    value = raw.strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"{ENV_VAR}={raw!r} is not a backend; allowed values: {', '.join(BACKENDS)}")
    if value == "auto":
        return "docker" if docker_available()[0] else "local"
    return value


def make_stack(backend: str, config: StackConfig | None = None, *, progress: Callable[[str], None] = print) -> Stack:
    """The stack for `backend` ("docker", "local" or "auto"), built from `config`.

    `config.airflow_env` are HSS_* settings of the Airflow components (e.g. HSS_ANALYSIS_DEADLINE_S) and
    `config.service_env` those of the services (e.g. HSS_AUDIO_MAX_QUEUE), set the same way on both backends;
    `config.airflow_uid` is the uid the docker containers run as (the local processes run as whoever runs the
    tests). The local backend runs profile "celery" (the compose topology) unless the config says otherwise."""
    config = config or StackConfig(profile="celery")
    backend = resolve_backend(backend)
    if backend == "docker":
        answers, reason = docker_daemon_answers()
        if not answers:
            raise DockerUnavailable(f"{reason} (start Docker, or run with {ENV_VAR}=local or auto)")
        if problem := compose_v2_problem():  # Docker is there but incomplete: a setup error, not a skip
            raise RuntimeError(f"docker backend: {problem}")
        return DockerStack(config, progress=progress)
    return _local(config, progress)


def recorded_stack(info: dict, config: StackConfig, *, progress: Callable[[str], None] = print) -> Stack:
    """The stack stack.json (`info`) describes, to ask whether it runs, stop it or report on it (not started)."""
    if info.get("backend") == "docker":
        compose = info.get("compose") or {}
        env_file = Path(compose.get("env_file") or config.env_file or ENV_FILE)
        return DockerStack(config.with_changes(env_file=env_file, workers=info.get("workers") or 1), progress=progress)
    return _local(config, progress)


def _local(config: StackConfig, progress: Callable[[str], None]) -> Stack:
    # Imported here: the local stack pulls in the process harness, which the docker path does not need.
    from stack.local_stack import LocalStack

    return LocalStack(config, progress=progress)
