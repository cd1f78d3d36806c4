"""What counts as a secret: placeholders and published values never do."""

from __future__ import annotations

import secrets

import pytest

from contracts.deployment_secrets import PUBLISHED_VALUES, SECRET_NAMES, is_placeholder, secret_problems


@pytest.mark.parametrize(
    "value", [None, "", "   ", "change-me-jwt-secret", "CHANGE-ME", "change-me", next(iter(PUBLISHED_VALUES))]
)
def test_placeholders_missing_values_and_published_keys_are_not_secrets(value: str | None) -> None:
    assert is_placeholder(value)
    assert secret_problems({"AIRFLOW_JWT_SECRET": value}, ("AIRFLOW_JWT_SECRET",))


def test_a_generated_value_is_a_secret_and_a_short_one_is_not() -> None:
    assert secret_problems(dict.fromkeys(SECRET_NAMES, secrets.token_urlsafe(32))) == []
    (problem,) = secret_problems({"HSS_API_KEY": "short"}, ("HSS_API_KEY",))
    assert "HSS_API_KEY is shorter than 16" in problem


def test_each_problem_names_the_variable() -> None:
    problems = secret_problems({"REDIS_PASSWORD": "change-me-redis"})
    assert len(problems) == len(SECRET_NAMES)  # the others are missing
    assert any(p.startswith("REDIS_PASSWORD is a placeholder") for p in problems)
    assert any(p == "HSS_MODEL_SIGNING_KEY is not set" for p in problems)
