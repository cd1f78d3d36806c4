"""hss_airflow.settings: the one reader of HSS_* on the Airflow side, with the services' default data root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contracts.data_root import DEFAULT_DATA_ROOT
from hss_airflow import hostname, storage
from hss_airflow.params import data_path_schema
from hss_airflow.settings import AirflowSettings, settings


def test_unset_means_the_shared_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = AirflowSettings.from_env({})
    assert loaded.data_root == (tmp_path / DEFAULT_DATA_ROOT).resolve() and loaded.worker_hostname is None


def test_the_environment_is_read_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSS_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("HSS_WORKER_HOSTNAME", "worker-2@local")
    assert settings() == AirflowSettings(data_root=tmp_path.resolve(), worker_hostname="worker-2@local")
    assert storage.data_root() == tmp_path.resolve()
    assert hostname.worker_hostname() == "worker-2@local"
    assert str(tmp_path.resolve()) not in data_path_schema()["pattern"]  # the schema names no root


def test_settings_are_validated_once_and_read_again_when_hss_or_the_folder_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSS_DATA_ROOT", "relative")
    monkeypatch.chdir(tmp_path)
    first = settings()
    assert settings() is first and first.data_root == (tmp_path / "relative").resolve()
    monkeypatch.setenv("NOT_HSS", "changed")
    assert settings() is first  # only HSS_* and the folder count
    monkeypatch.setenv("HSS_WORKER_HOSTNAME", "worker-3@local")
    assert settings().worker_hostname == "worker-3@local"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert settings().data_root == (tmp_path / "elsewhere" / "relative").resolve()
    monkeypatch.setenv("HSS_ANALYSIS_DEADLINE_S", "-1")
    with pytest.raises(ValueError, match="HSS_ANALYSIS_DEADLINE_S"):  # a bad value is refused every time
        settings()


def test_without_a_worker_hostname_the_fqdn_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HSS_WORKER_HOSTNAME", raising=False)
    assert hostname.worker_hostname()


def test_storage_names_the_data_root_in_its_refusals(root: Path) -> None:
    with pytest.raises(storage.DataPathError) as err:
        storage.resolve_in_root("../x.wav")
    assert err.value.reason == storage.DataPathError.OUTSIDE and str(root) in str(err.value)


def test_a_mapping_given_is_read_alone_and_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSS_WORKER_HOSTNAME", "from-os-environ")
    monkeypatch.setenv("HSS_ALERT_TO", "os@environ")
    given = AirflowSettings.from_env({"HSS_ALERT_TO": "a@x, b@y", "HSS_ALERT_FROM": ""})
    assert (
        given.worker_hostname is None and given.alert_to == ("a@x", "b@y") and given.alert_from == "airflow@localhost"
    )
    assert settings().worker_hostname == "from-os-environ" and settings().alert_to == ("os@environ",)


def test_settings_are_pydantic_settings_like_the_services() -> None:
    from pydantic_settings import BaseSettings

    assert isinstance(settings(), BaseSettings) and AirflowSettings.model_config["env_prefix"] == "HSS_"


def test_the_prometheus_urls_are_http_urls_and_the_public_one_defaults_to_the_other() -> None:
    unset = AirflowSettings.from_env({})
    assert unset.prometheus_url is None and unset.prometheus_browser_url is None
    one = AirflowSettings.from_env({"HSS_PROMETHEUS_URL": "http://prometheus:9090/"})
    assert one.prometheus_url == "http://prometheus:9090" and one.prometheus_browser_url == "http://prometheus:9090"
    both = AirflowSettings.from_env(
        {"HSS_PROMETHEUS_URL": "http://prometheus:9090", "HSS_PROMETHEUS_PUBLIC_URL": "https://metrics.example/prom"}
    )
    assert both.prometheus_browser_url == "https://metrics.example/prom"
    assert AirflowSettings.from_env({"HSS_PROMETHEUS_URL": " "}).prometheus_url is None


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("HSS_PROMETHEUS_URL", "prometheus:9090", "must be an http(s) URL"),
        ("HSS_PROMETHEUS_URL", "file:///etc/passwd", "must be an http(s) URL"),
        ("HSS_PROMETHEUS_PUBLIC_URL", "javascript:alert(1)", "must be an http(s) URL"),
        ("HSS_PROMETHEUS_PUBLIC_URL", "http://", "must be an http(s) URL"),
        ("HSS_PROMETHEUS_URL", "http://admin:secret@prometheus:9090", "must carry no user, password"),
        ("HSS_PROMETHEUS_URL", "http://prometheus:port", "is not a URL"),
    ],
)
def test_a_prometheus_url_that_is_not_an_http_url_is_refused_by_name(name: str, value: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(f"{name}={value!r} {reason}")):
        AirflowSettings.from_env({name: value})
