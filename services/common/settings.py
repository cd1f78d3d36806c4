"""Settings from the environment (pydantic-settings). Each service subclasses ServiceSettings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.data_root import DEFAULT_DATA_ROOT, resolve_root


class ServiceSettings(BaseSettings):
    """Settings every service shares. Environment variables are prefixed HSS_ (HSS_DATA_ROOT, ...)."""

    model_config = SettingsConfigDict(env_prefix="HSS_", extra="ignore")

    data_root: Path = Field(
        default=Path(DEFAULT_DATA_ROOT), description="Root of songs/, training_data/, models/, results/."
    )
    api_key: SecretStr | None = Field(
        default=None, description="When set, every non-probe route requires the X-API-Key header to equal it."
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    log_level: str = Field(default="info")

    def resolved_data_root(self) -> Path:
        return resolve_root(self.data_root)
