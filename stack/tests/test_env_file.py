"""`ensure_env_file`: a fresh .env gets real secrets, an existing one keeps what the user set.

Works on copies in tmp_path (never the repo's .env), from the repo's real .env.example.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from contracts.deployment_secrets import PLACEHOLDER_PREFIX, PUBLISHED_VALUES, SECRET_NAMES
from stack.env_file import (
    ensure_env_file,
    read_env_file,
    secret_keys,
    update_env_file,
)
from stack.paths import ENV_EXAMPLE

EXAMPLE = ENV_EXAMPLE
PUBLISHED_FERNET_KEY = next(iter(PUBLISHED_VALUES))
EXAMPLE_VALUES = read_env_file(EXAMPLE)
SECRETS = secret_keys(EXAMPLE_VALUES)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_example_declares_the_secrets_compose_requires() -> None:
    assert set(SECRETS) == set(SECRET_NAMES)  # every secret the init service and the services insist on
    assert "AIRFLOW_ADMIN_USER" not in SECRETS  # a plain setting, not a secret


def test_a_missing_file_is_written_from_the_example_with_fresh_secrets_and_mode_0600(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    result = ensure_env_file(env, EXAMPLE)

    assert result.created and result.path == env
    assert list(result.generated) == SECRETS  # every secret, in file order
    assert mode(env) == 0o600
    values = read_env_file(env)
    for key in SECRETS:
        assert values[key] != EXAMPLE_VALUES[key], key
        assert not values[key].startswith(PLACEHOLDER_PREFIX), key
        assert len(values[key]) >= 32, key
    assert values["AIRFLOW_ADMIN_USER"] == "admin"  # non-secrets copied as they are
    assert values["AIRFLOW_WORKER_CONCURRENCY"] == EXAMPLE_VALUES["AIRFLOW_WORKER_CONCURRENCY"]
    # the example's comments stay, so the file still explains itself
    text = env.read_text()
    assert "# PostgreSQL password of the `airflow` user" in text
    assert "# HSS_AIRFLOW_HOST_PORT=8080" in text


def test_secrets_are_url_safe_and_differ_between_files(tmp_path: Path) -> None:
    first = read_env_file(ensure_env_file(tmp_path / "a.env", EXAMPLE).path)
    second = read_env_file(ensure_env_file(tmp_path / "b.env", EXAMPLE).path)
    for key in SECRETS:
        assert first[key] != second[key], key
        assert all(c.isalnum() or c in "-_=" for c in first[key]), (key, first[key])


def test_the_jwt_secret_is_long_enough_for_hs512(tmp_path: Path) -> None:
    """Airflow signs its tokens with HS512: a key under 64 bytes makes PyJWT warn at every token (RFC 7518 3.2)."""
    from stack.airflow_stack import load_or_create_secrets

    values = read_env_file(ensure_env_file(tmp_path / ".env", EXAMPLE).path)
    assert len(values["AIRFLOW_JWT_SECRET"].encode()) >= 64
    assert len(load_or_create_secrets(tmp_path / "home")["jwt_secret"].encode()) >= 64


def test_the_generated_fernet_key_is_a_valid_key(tmp_path: Path) -> None:
    values = read_env_file(ensure_env_file(tmp_path / ".env", EXAMPLE).path)
    token = Fernet(values["AIRFLOW_FERNET_KEY"].encode()).encrypt(b"connection password")
    assert Fernet(values["AIRFLOW_FERNET_KEY"].encode()).decrypt(token) == b"connection password"


def test_an_existing_file_keeps_user_values_and_replaces_only_placeholders(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# my settings\n"
        "POSTGRES_PASSWORD=my-own-db-password\n"
        'AIRFLOW_JWT_SECRET="change-me-jwt-secret"\n'  # a placeholder, quoted
        f"AIRFLOW_FERNET_KEY={PUBLISHED_FERNET_KEY}\n"  # the key an earlier .env.example published
        "AIRFLOW_ADMIN_USER=alice\n"
        "AIRFLOW_ADMIN_PASSWORD=alice-secret\n"
        "FLOWER_PASSWORD=\n"  # empty: compose's ${VAR:?} would refuse it
        "HSS_API_KEY=my-api-key  \n"
        "MY_OWN_SETTING=42\n"
    )
    env.chmod(0o644)
    result = ensure_env_file(env, EXAMPLE)

    assert not result.created
    assert set(result.generated) == {
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_FERNET_KEY",
        "FLOWER_PASSWORD",
        "AIRFLOW_API_SECRET_KEY",
        "REDIS_PASSWORD",
        "HSS_MODEL_SIGNING_KEY",
    }
    values = read_env_file(env)
    assert values["POSTGRES_PASSWORD"] == "my-own-db-password"
    assert values["AIRFLOW_ADMIN_USER"] == "alice"
    assert values["AIRFLOW_ADMIN_PASSWORD"] == "alice-secret"
    assert values["HSS_API_KEY"] == "my-api-key"
    assert values["MY_OWN_SETTING"] == "42"
    assert values["AIRFLOW_FERNET_KEY"] not in (EXAMPLE_VALUES["AIRFLOW_FERNET_KEY"], PUBLISHED_FERNET_KEY)
    Fernet(values["AIRFLOW_FERNET_KEY"].encode())
    assert not values["AIRFLOW_JWT_SECRET"].startswith(PLACEHOLDER_PREFIX)
    assert values["FLOWER_PASSWORD"]
    assert values["AIRFLOW_API_SECRET_KEY"]  # missing key: appended
    text = env.read_text()
    assert text.startswith("# my settings\nPOSTGRES_PASSWORD=my-own-db-password\n")  # replaced in place
    assert text.count("AIRFLOW_JWT_SECRET=") == 1
    assert mode(env) == 0o600


def test_a_second_run_generates_nothing_and_changes_nothing(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env, EXAMPLE)
    before = env.read_text()
    again = ensure_env_file(env, EXAMPLE)
    assert not again.created
    assert again.generated == ()
    assert env.read_text() == before


def test_update_env_file_sets_empty_values_and_paths_with_spaces(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env, EXAMPLE)
    update_env_file(env, {"HSS_AIRFLOW_HOST_PORT": "", "HSS_TEST_DATA_DIR": "/tmp/a folder/data", "FLOWER_USER": "bob"})
    values = read_env_file(env)
    assert values["HSS_AIRFLOW_HOST_PORT"] == ""
    assert values["HSS_TEST_DATA_DIR"] == "/tmp/a folder/data"
    assert values["FLOWER_USER"] == "bob"
    assert env.read_text().count("FLOWER_USER=") == 1
    assert mode(env) == 0o600
    with pytest.raises(ValueError, match="quote"):
        update_env_file(env, {"X": "it's"})


def test_read_env_file_handles_comments_quotes_and_blank_lines(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# comment\n\nA=1\nB='two words'\nexport C=\"3\"\nD=\n")
    assert read_env_file(env) == {"A": "1", "B": "two words", "C": "3", "D": ""}
