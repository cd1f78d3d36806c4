"""The HSS_* environment of the Airflow side, read in one place (the services have ServiceSettings).

- HSS_DATA_ROOT: root of songs/, training_data/, models/, results/ (default: contracts.data_root's, the
  same as the services'); resolved to an absolute real path.
- HSS_WORKER_HOSTNAME: the name a local Celery worker reports (hss_airflow.hostname); unset elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contracts.data_root import DATA_ROOT_ENV, DEFAULT_DATA_ROOT, resolve_root

WORKER_HOSTNAME_ENV = "HSS_WORKER_HOSTNAME"


@dataclass(frozen=True)
class AirflowSettings:
    data_root: Path
    worker_hostname: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AirflowSettings:
        env = os.environ if env is None else env
        return cls(
            # .get with a default, not `or`: an empty value means what it means to the services (pydantic).
            data_root=resolve_root(env.get(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)),
            worker_hostname=env.get(WORKER_HOSTNAME_ENV) or None,
        )


def settings() -> AirflowSettings:
    """The settings now. Not cached: reading a few variables is cheap, and tests and the e2e harness set
    HSS_* after hss_airflow is imported (a worker's environment does not change while it runs)."""
    return AirflowSettings.from_env()
