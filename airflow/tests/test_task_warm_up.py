"""hss_airflow.task_warm_up's `jsonschema.validate`: a schema's own check is remembered, nothing else is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from airflow.sdk import Param
from airflow.sdk.exceptions import ParamValidationError
from jsonschema import validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import validator_for

from hss_airflow import task_warm_up
from hss_airflow.params import song_params

SCHEMA = {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8}


@pytest.fixture
def schema_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The schemas the metaschema check is asked to check, with an empty memory and the warm-up's validate."""
    validator, seen = validator_for(SCHEMA), []
    check = validator.check_schema
    monkeypatch.setattr(validator, "check_schema", lambda schema, *a: seen.append(schema) or check(schema, *a))
    monkeypatch.setattr(jsonschema, "validate", task_warm_up.validate_checking_each_schema_once)
    task_warm_up.check_schema_once.cache_clear()
    yield seen
    task_warm_up.check_schema_once.cache_clear()


def test_a_schema_is_checked_once_and_every_instance_still_validated(schema_checks: list[Any]) -> None:
    for _ in range(3):
        jsonschema.validate("abc", SCHEMA)
    assert schema_checks == [SCHEMA]
    ours = {}
    for bad in ("ABC", "abcdefghi", 5):
        with pytest.raises(ValidationError) as raised:
            jsonschema.validate(bad, dict(SCHEMA))  # an equal copy: the same content, remembered
        ours[bad] = raised.value.message
    assert schema_checks == [SCHEMA]
    for bad, message in ours.items():
        with pytest.raises(ValidationError) as theirs:
            validators.validate(bad, SCHEMA)  # jsonschema's own function (the name above is the warm-up's)
        assert message == theirs.value.message


def test_a_bad_schema_fails_its_check_every_time(schema_checks: list[Any]) -> None:
    bad = {"type": "no such type"}
    for _ in range(2):
        with pytest.raises(SchemaError):
            jsonschema.validate("abc", bad)
    assert schema_checks == [bad, bad]  # a failed check is not remembered


def test_a_schema_that_is_not_json_is_checked_each_time(schema_checks: list[Any]) -> None:
    odd = {"type": "string", "default": object()}  # a default JSON has no value for (schemas allow any)
    jsonschema.validate("abc", odd)
    jsonschema.validate("abc", odd)
    assert len(schema_checks) == 2


def test_airflows_params_still_refuse_bad_values(schema_checks: list[Any]) -> None:
    song_id = song_params()["song_id"]
    with pytest.raises(ParamValidationError):
        Param(song_id.value, **song_id.schema).resolve("not an id!")
    assert Param(None, **song_id.schema).resolve("ok_1") == "ok_1"
    task_warm_up.check_each_param_schema_once()  # what the preload does: our DAGs' schemas checked up front
    checked = len(schema_checks)
    song_params()["song_path"].resolve("songs/a.wav")
    assert len(schema_checks) == checked  # its schema was one of them
