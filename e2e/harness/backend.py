"""Which full-stack backend runs the e2e tests, and the `Stack` for it.

    backend = resolve_backend()                 # E2E_BACKEND=auto|docker|local (default auto)
    stack = make_stack(backend, state_dir=tmp)  # DockerStack or LocalStack(profile="celery")

auto picks docker when a Docker daemon answers (and `docker compose` works), local otherwise. Asking for
docker explicitly where no daemon answers raises DockerUnavailable: the tests' fixture turns exactly that
into a skip. A daemon without the Compose v2 plugin is a setup error (RuntimeError), not a skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from e2e.harness.base import Stack
from e2e.harness.compose_project import compose_v2_problem, docker_available, docker_daemon_answers
from e2e.harness.docker_stack import DockerStack

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


def make_stack(
    backend: str,
    *,
    state_dir: Path | str,
    workers: int = 1,
    airflow_env: dict[str, str] | None = None,
    service_env: dict[str, str] | None = None,
    airflow_uid: int | None = None,
    **local_kwargs: Any,
) -> Stack:
    """The stack for `backend` ("docker", "local" or "auto") with `workers` Celery workers.

    `airflow_env` are HSS_* settings of the Airflow components (e.g. HSS_ANALYSIS_DEADLINE_S) and `service_env`
    those of the services (e.g. HSS_AUDIO_MAX_QUEUE), set the same way on both backends; `airflow_uid` is the uid
    the docker containers run as (the local processes run as whoever runs the tests); `local_kwargs` go to
    LocalStack only."""
    backend = resolve_backend(backend)
    if backend == "docker":
        answers, reason = docker_daemon_answers()
        if not answers:
            raise DockerUnavailable(f"{reason} (start Docker, or run with {ENV_VAR}=local or auto)")
        if problem := compose_v2_problem():  # Docker is there but incomplete: a setup error, not a skip
            raise RuntimeError(f"docker backend: {problem}")
        return DockerStack(
            state_dir=state_dir,
            workers=workers,
            airflow_env={**(airflow_env or {}), **(service_env or {})},  # both go into the env file compose reads
            airflow_uid=airflow_uid,
        )
    # Imported here: the local stack pulls in the process harness, which the docker path does not need.
    from e2e.harness.stack import LocalStack

    return LocalStack(
        profile="celery",
        workers=workers,
        state_dir=state_dir,
        airflow_env=airflow_env,
        service_env=service_env,
        **local_kwargs,
    )
