"""The HSS_* environment of the Airflow side, read in one place (the services have ServiceSettings).

- HSS_DATA_ROOT: root of songs/, training_data/, models/, results/ (default: contracts.data_root's, the
  same as the services'); resolved to an absolute real path.
- HSS_WORKER_HOSTNAME: the name a local Celery worker reports (hss_airflow.hostname); unset elsewhere.
- HSS_ALERT_TO / HSS_ALERT_FROM: who gets the failure and deadline mails, and their sender (hss_airflow.alerting;
  the SMTP server itself is the Airflow connection `smtp_default`, AIRFLOW_CONN_SMTP_DEFAULT).
- HSS_ANALYSIS_DEADLINE_S: seconds after a comprehensive_analysis run is queued before it counts as late; read
  when the DAG file is parsed. Every stack sets it (600 unless told otherwise); unset, the DAG has no deadline,
  because Airflow 3.3.2's dag.test() cannot finish a run of a DAG that has one (see hss_airflow.alerting).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contracts.data_root import DATA_ROOT_ENV, DEFAULT_DATA_ROOT, resolve_root

WORKER_HOSTNAME_ENV = "HSS_WORKER_HOSTNAME"
ALERT_TO_ENV, ALERT_FROM_ENV = "HSS_ALERT_TO", "HSS_ALERT_FROM"
ANALYSIS_DEADLINE_ENV = "HSS_ANALYSIS_DEADLINE_S"


@dataclass(frozen=True)
class AirflowSettings:
    data_root: Path
    worker_hostname: str | None = None
    alert_to: tuple[str, ...] = ("hss-alerts@localhost",)
    alert_from: str = "airflow@localhost"
    analysis_deadline_s: float | None = None  # None: no deadline

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AirflowSettings:
        env = os.environ if env is None else env
        return cls(
            # .get with a default, not `or`: an empty value means what it means to the services (pydantic).
            data_root=resolve_root(env.get(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)),
            worker_hostname=env.get(WORKER_HOSTNAME_ENV) or None,
            alert_to=_addresses(env.get(ALERT_TO_ENV)) or cls.alert_to,
            alert_from=env.get(ALERT_FROM_ENV) or cls.alert_from,
            analysis_deadline_s=_positive_seconds(env, ANALYSIS_DEADLINE_ENV),
        )


def _addresses(raw: str | None) -> tuple[str, ...]:
    """'a@x, b@y' -> ('a@x', 'b@y')."""
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


def _positive_seconds(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name}={raw!r} must be a positive number of seconds")
    return value


def settings() -> AirflowSettings:
    """The settings now. Not cached: reading a few variables is cheap, and tests and the e2e harness set
    HSS_* after hss_airflow is imported (a worker's environment does not change while it runs)."""
    return AirflowSettings.from_env()
