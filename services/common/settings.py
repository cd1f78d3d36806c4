"""Settings from the environment (pydantic-settings). Each service subclasses ServiceSettings.

Secrets are checked when an app is built (services.common.security.require_secret), not by a pydantic
validator: a validation error would echo the raw input, key included, into the log.
"""

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
        default=None,
        description=(
            "Required (HSS_API_KEY): every non-probe route requires the X-API-Key header to equal it. A service "
            "refuses to start without it, or with a placeholder value starting with 'change-me', unless "
            "HSS_ALLOW_NO_API_KEY=true."
        ),
    )
    allow_no_api_key: bool = Field(
        default=False,
        description=(
            "Development only (HSS_ALLOW_NO_API_KEY): with true and no HSS_API_KEY, the service starts and accepts "
            "requests without a key, and logs a warning saying so. A placeholder key is refused even then."
        ),
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    log_level: str = Field(default="info")

    def resolved_data_root(self) -> Path:
        return resolve_root(self.data_root)


class ModelSigningSettings(ServiceSettings):
    """The services that write or read model artifacts (workflow-ml-training, workflow-ml-prediction)."""

    model_signing_key: SecretStr | None = Field(
        default=None,
        description=(
            "Required (HSS_MODEL_SIGNING_KEY): the HMAC-SHA256 key that signs every model.joblib training writes "
            "and that every load verifies before unpickling. A secret of the deployment (.env), never a file of "
            "the data root; the same value for workflow-ml-training and workflow-ml-prediction. Without it, or "
            "with a placeholder starting with 'change-me', the service refuses to start (no development bypass)."
        ),
    )
