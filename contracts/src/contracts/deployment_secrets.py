"""The deployment's secrets: their names, and which values are not secrets at all.

One place for both sides: the compose init service refuses to start a stack on a placeholder, the services
refuse to start on one, and the `.env` writer (`make up`) replaces them with generated values.

A value is a placeholder when it starts with `change-me` (what `.env.example` ships) or is a value that was
published in this repository (the Fernet key an earlier `.env.example` carried): anyone can read those.
Standard library only.
"""

from __future__ import annotations

PLACEHOLDER_PREFIX = "change-me"
# Published in .env.example before placeholders replaced it: a real key that everyone has.
PUBLISHED_VALUES = frozenset({"ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="})
MIN_SECRET_LENGTH = 16

MODEL_SIGNING_KEY_ENV = "HSS_MODEL_SIGNING_KEY"  # the HMAC key of the model files (services.common.model_signing)

# Every secret a full stack needs, as `.env` names it; what each protects is in docs/SECURITY.md.
SECRET_NAMES = (
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
    "FLOWER_PASSWORD",
    "HSS_API_KEY",
    MODEL_SIGNING_KEY_ENV,
)
GENERATE_HINT = (
    "`make up` writes generated values into .env; by hand: "
    'python3 -c "import secrets; print(secrets.token_urlsafe(32))" (AIRFLOW_FERNET_KEY: '
    'python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
)


def is_placeholder(value: str | None) -> bool:
    """True for a missing, empty, `change-me…` or published value."""
    if value is None or not value.strip():
        return True
    return value.strip().lower().startswith(PLACEHOLDER_PREFIX) or value.strip() in PUBLISHED_VALUES


def secret_problem(name: str, value: str | None) -> str | None:
    """Why `value` cannot be the secret `name` (None when it can)."""
    if value is None or not value.strip():
        return f"{name} is not set"
    if is_placeholder(value):
        return f"{name} is a placeholder ({value[:12]}…), not a secret"
    if len(value) < MIN_SECRET_LENGTH:
        return f"{name} is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def secret_problems(values: dict[str, str | None], names: tuple[str, ...] = SECRET_NAMES) -> list[str]:
    """One line per secret of `names` that `values` does not hold a real value for."""
    return [problem for name in names if (problem := secret_problem(name, values.get(name)))]
