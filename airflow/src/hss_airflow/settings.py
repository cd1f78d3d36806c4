"""The HSS_* environment of the Airflow side, read in one place with pydantic-settings (as the services'
ServiceSettings in services/common/settings.py).

- HSS_DATA_ROOT: root of songs/, training_data/, models/, results/ (default: contracts.data_root's, the
  same as the services'); resolved to an absolute real path.
- HSS_WORKER_HOSTNAME: the name a local Celery worker reports (hss_airflow.hostname); unset elsewhere.
- HSS_ALERT_TO / HSS_ALERT_FROM: who gets the failure and deadline mails, and their sender (hss_airflow.alerting;
  the SMTP server itself is the Airflow connection `smtp_default`, AIRFLOW_CONN_SMTP_DEFAULT).
- HSS_ANALYSIS_DEADLINE_S: seconds after a comprehensive_analysis run is queued before it counts as late; read
  when the DAG file is parsed. Every stack sets it (600 unless told otherwise); unset, the DAG has no deadline,
  because Airflow 3.3.2's dag.test() cannot finish a run of a DAG that has one (see hss_airflow.alerting).
- HSS_PROMETHEUS_URL: where the api-server reaches Prometheus for the /hss/operations page (hss_airflow.web);
  unset, the page says metrics are not configured.
- HSS_PROMETHEUS_PUBLIC_URL: the Prometheus address a browser opens from that page's "open in Prometheus"
  links (default: HSS_PROMETHEUS_URL). Both are http(s) URLs without user or password (they are shown).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.data_root import DEFAULT_DATA_ROOT, resolve_root

ENV_PREFIX = "HSS_"  # DATA_ROOT_ENV (contracts.data_root, the services' name) has the same prefix
WORKER_HOSTNAME_ENV = "HSS_WORKER_HOSTNAME"
ALERT_TO_ENV, ALERT_FROM_ENV = "HSS_ALERT_TO", "HSS_ALERT_FROM"
ANALYSIS_DEADLINE_ENV = "HSS_ANALYSIS_DEADLINE_S"
PROMETHEUS_URL_ENV, PROMETHEUS_PUBLIC_URL_ENV = "HSS_PROMETHEUS_URL", "HSS_PROMETHEUS_PUBLIC_URL"
DEFAULT_ALERT_TO = ("hss-alerts@localhost",)
DEFAULT_ALERT_FROM = "airflow@localhost"


class AirflowSettings(BaseSettings):
    """HSS_<FIELD NAME> of the environment; see the module doc."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # An empty HSS_DATA_ROOT means what it means to the services (pydantic): the current folder.
    data_root: Path = Field(default=Path(DEFAULT_DATA_ROOT), validate_default=True)
    worker_hostname: str | None = None
    alert_to: Annotated[tuple[str, ...], NoDecode] = Field(default=DEFAULT_ALERT_TO, validate_default=True)
    alert_from: str = DEFAULT_ALERT_FROM
    analysis_deadline_s: float | None = None  # None: no deadline
    prometheus_url: str | None = None  # None: the Operations page says metrics are not configured
    prometheus_public_url: str | None = None  # None: prometheus_url

    @field_validator("data_root", mode="after")
    @classmethod
    def _resolved(cls, value: Path) -> Path:
        return resolve_root(value)

    @field_validator("worker_hostname", "alert_from", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str) and not value:
            return None if info.field_name == "worker_hostname" else DEFAULT_ALERT_FROM
        return value

    @field_validator("alert_to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        """'a@x, b@y' -> ('a@x', 'b@y'); empty -> the default."""
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        return value or DEFAULT_ALERT_TO

    @field_validator("analysis_deadline_s", mode="before")
    @classmethod
    def _positive_seconds(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{ANALYSIS_DEADLINE_ENV}={value!r} is not a number of seconds") from None
        if not seconds > 0 or seconds == float("inf"):
            raise ValueError(f"{ANALYSIS_DEADLINE_ENV}={value!r} must be a positive number of seconds")
        return seconds

    @field_validator("prometheus_url", "prometheus_public_url", mode="before")
    @classmethod
    def _http_url(cls, value: Any, info: Any) -> Any:
        """An http(s) URL with a host, kept without its trailing '/'; empty is unset."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        name = ENV_PREFIX + info.field_name.upper()
        text = str(value).strip()
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError(f"{name}={value!r} is not a URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name}={value!r} must be an http(s) URL such as http://prometheus:9090")
        if parts.username is not None or parts.query or parts.fragment:
            # The page shows both addresses: a password in one would be shown too.
            raise ValueError(f"{name}={value!r} must carry no user, password, query or fragment")
        return text.rstrip("/")

    @property
    def prometheus_browser_url(self) -> str | None:
        """The address for the "open in Prometheus" links."""
        return self.prometheus_public_url or self.prometheus_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AirflowSettings:
        """The settings of `env` (default: os.environ). A mapping given is read alone, os.environ is not."""
        try:
            if env is None:
                return cls()
            # Every field given (init arguments win over every other source), so os.environ is not read.
            fields = cls.model_fields.items()
            return cls(**{name: env.get(ENV_PREFIX + name.upper(), field.default) for name, field in fields})
        except ValidationError as exc:  # one line naming the variable, as before pydantic-settings
            raise ValueError("; ".join(_message(error) for error in exc.errors())) from None


def _message(error: Any) -> str:
    if error.get("type") == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{ENV_PREFIX}{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"


def settings() -> AirflowSettings:
    """The settings now: read again whenever an HSS_* variable changed (tests and the e2e harness set them
    after hss_airflow is imported), validated once per distinct set. A task asks several times (its DAG file's
    parse, the worker's hostname, the data root); pydantic-settings took about 1 ms each time (py-spy)."""
    hss = frozenset((k, v) for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX))
    return _settings_of(hss, os.getcwd())  # a relative data root is relative to the current folder


@functools.lru_cache(maxsize=8)
def _settings_of(hss_environment: frozenset[tuple[str, str]], cwd: str) -> AirflowSettings:
    return AirflowSettings.from_env()  # the arguments are the cache key: all it reads
