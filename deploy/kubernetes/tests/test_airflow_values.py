"""deploy/kubernetes/airflow-values.yaml, the official Airflow chart's values, checked on paper: validated with
jsonschema against airflow-chart/values-subset.schema.json (the chart's value names; broken copies fail it),
then compared with docker-compose.yml as `docker-compose config` renders it. Every variable compose gives the
Airflow containers is carried exactly once (a chart key, a Secret, `env` or `config`), secrets never as plain
text, with compose's values; the image, KEDA's default query, memory and the workers' CPUs are compose's; the
data root is the services' ReadWriteMany claim. Each check is shown to find what it is meant to find.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from deploy.kubernetes.tests.helpers import (
    AIRFLOW_COMPONENTS,
    PLACEHOLDER,
    VALUES_FILE,
    VALUES_SCHEMA,
    data_root_problems,
    docker_bytes,
    environment,
    k8s_bytes,
    load_values,
    pvc_access_modes,
)

# ---- the checks of the chart values ----------------------------------------------------------------------


def secret_names(values: dict[str, Any]) -> set[str]:
    return {entry["envName"] for entry in values.get("secret", [])}


def config_option(values: dict[str, Any], name: str) -> tuple[bool, Any]:
    """AIRFLOW__SECTION__KEY -> (set in values.config, its value)."""
    match = re.fullmatch(r"AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)", name)
    if match is None:
        return False, None
    section = values.get("config", {}).get(match.group(1).lower(), {})
    key = match.group(2).lower()
    return key in section, section.get(key)


def chart_keys() -> dict[str, Callable[[dict[str, Any], str], bool]]:
    """Variables the chart sets itself from a value of its own: the check that the value is there."""
    return {
        "AIRFLOW__CORE__EXECUTOR": lambda v, value: v.get("executor") == value,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": lambda v, _: bool(v.get("data", {}).get("metadataSecretName")),
        # the same database: Airflow derives db+postgresql://… from sql_alchemy_conn when it is not set
        "AIRFLOW__CELERY__RESULT_BACKEND": lambda v, _: bool(v.get("data", {}).get("metadataSecretName")),
        "AIRFLOW__CELERY__BROKER_URL": lambda v, _: bool(v.get("data", {}).get("brokerUrlSecretName")),
        "AIRFLOW__CORE__FERNET_KEY": lambda v, _: bool(v.get("fernetKeySecretName")),
        "AIRFLOW__API_AUTH__JWT_SECRET": lambda v, _: bool(v.get("jwtSecretName")),
        "AIRFLOW__API__SECRET_KEY": lambda v, _: bool(v.get("apiSecretKeySecretName")),
        # the chart points the workers at its own api-server Service
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": lambda v, _: True,
        # the chart's statsd-exporter Service and port stand for compose's statsd-bridge
        "AIRFLOW__METRICS__STATSD_HOST": lambda v, _: v.get("statsd", {}).get("enabled") is True,
        "AIRFLOW__METRICS__STATSD_PORT": lambda v, _: v.get("statsd", {}).get("enabled") is True,
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": lambda v, value: (
            v.get("dagProcessor", {}).get("dagBundleConfigList") == json.loads(value)
        ),
    }


def airflow_env_problems(values: dict[str, Any], compose: dict[str, Any]) -> list[str]:
    """Each variable compose gives the Airflow containers (x-airflow-common, as the worker gets it) is carried
    exactly once: by a chart key, a Secret (`secret`), `env` or `config`; a secret never as plain text; every
    plain value and Airflow option (the tuning) equal to compose's. And nothing beyond compose's names."""
    problems = []
    wanted = environment(compose["services"]["airflow-worker"])
    special = chart_keys()
    plain = {entry["name"]: entry["value"] for entry in values.get("env", [])}
    secrets = secret_names(values)
    for name, value in sorted(wanted.items()):
        in_config, option = config_option(values, name)
        carriers = [
            label
            for label, present in (
                ("chart", name in special),
                ("secret", name in secrets),
                ("env", name in plain),
                ("config", in_config),
            )
            if present
        ]
        if len(carriers) != 1:
            problems.append(f"{name}: carried by {carriers or 'nothing'} in the values, expected exactly one")
            continue
        carrier = carriers[0]
        if PLACEHOLDER in value and carrier not in ("chart", "secret"):
            problems.append(f"{name}: a secret in compose, written in the values' {carrier}")
        elif carrier == "chart" and not special[name](values, value):
            problems.append(f"{name}: the chart's value for it does not match compose's {value!r}")
        elif carrier == "env" and plain[name] != value:
            problems.append(f"{name}: env {plain[name]!r}, compose {value!r}")
        elif carrier == "config" and str(option) != value:
            problems.append(f"{name}: config {option!r}, compose {value!r}")
    for section, options in values.get("config", {}).items():
        for key in options:
            name = f"AIRFLOW__{section.upper()}__{key.upper()}"
            if name not in wanted:
                problems.append(f"config.{section}.{key}: compose sets no {name}")
    for name in sorted((set(plain) | secrets) - set(wanted)):
        problems.append(f"{name}: in the values, not in compose's Airflow environment")
    return problems


def airflow_component_problems(values: dict[str, Any], compose: dict[str, Any]) -> list[str]:
    """Image = compose's; KEDA on with the chart's own query; memory (and the workers' CPUs) as compose's."""
    problems = []
    image = f"{values['defaultAirflowRepository']}:{values['defaultAirflowTag']}"
    for name in AIRFLOW_COMPONENTS:
        if compose["services"][name]["image"] != image:
            problems.append(f"{name}: compose runs {compose['services'][name]['image']}, the values {image}")
    if values.get("airflowVersion") != values["defaultAirflowTag"]:
        problems.append(
            f"airflowVersion {values.get('airflowVersion')} is not the image's {values['defaultAirflowTag']}"
        )
    for init in values.get("apiServer", {}).get("extraInitContainers", []):
        if init["image"] != image:
            problems.append(f"apiServer init container {init['name']} runs {init['image']}, not {image}")
    keda = values.get("workers", {}).get("keda", {})
    if keda.get("enabled") is not True:
        problems.append("workers.keda is not enabled")
    if "query" in keda:
        problems.append("workers.keda.query is set: the chart's default query is the one meant")
    for name, section in AIRFLOW_COMPONENTS.items():
        resources = values.get(section, {}).get("resources", {})
        limit = resources.get("limits", {}).get("memory")
        if limit is None or k8s_bytes(limit) != docker_bytes(compose["services"][name]["mem_limit"]):
            problems.append(
                f"{section}: memory limit {limit}, compose's {name} has {compose['services'][name]['mem_limit']}"
            )
    command = compose["services"]["airflow-worker"]["command"]
    queues = command[command.index("--queues") + 1]
    args = " ".join(values.get("workers", {}).get("args", []))
    if f"celery worker --queues {queues}" not in args:
        problems.append(f"workers.args {args!r} do not take compose's queues {queues}")
    cpus = compose["services"]["airflow-worker"].get("cpus")
    worker_cpu = values.get("workers", {}).get("resources", {}).get("limits", {}).get("cpu")
    if worker_cpu is None or float(worker_cpu) != float(cpus):
        problems.append(f"workers: cpu limit {worker_cpu}, compose's airflow-worker has cpus {cpus}")
    return problems


def airflow_volume_problems(
    values: dict[str, Any], compose: dict[str, Any], manifests: dict[tuple[str, str], dict[str, Any]]
) -> list[str]:
    """Every Airflow container mounts the data root compose mounts (the services' claim); the logs claim is
    ReadWriteMany too."""
    data_root = environment(compose["services"]["airflow-worker"])["HSS_DATA_ROOT"]
    problems = data_root_problems(
        "airflow-values", values.get("volumes", []), values.get("volumeMounts", []), data_root, manifests
    )
    logs = values.get("logs", {}).get("persistence", {})
    if logs.get("enabled"):
        modes = pvc_access_modes(manifests, logs.get("existingClaim") or "")
        if modes is None or "ReadWriteMany" not in modes:
            problems.append(f"logs.persistence.existingClaim {logs.get('existingClaim')!r}: no ReadWriteMany claim")
    return problems


# ---- tests: the chart's value names ----------------------------------------------------------------------


def values_errors(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(json.loads(VALUES_SCHEMA.read_text()))
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(values)
    ]


def test_the_values_use_the_charts_value_names(values: dict[str, Any]) -> None:
    assert values_errors(values) == []


def test_the_values_schema_is_a_valid_draft7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(json.loads(VALUES_SCHEMA.read_text()))


BROKEN_VALUES = {
    "misspelt key": ("  keda:\n    enabled: true", "  keda:\n    enabeld: true", "enabeld"),
    "unknown section": ("flower:\n  enabled: true", "flowers:\n  enabled: true", "flowers"),
    "wrong type": ("worker_concurrency: 4", "worker_concurrency: [4]", "worker_concurrency"),
    "env without value": ("    value: /app/data\n", "    valu: /app/data\n", "valu"),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN_VALUES))
def test_broken_values_fail_the_schema(breakage: str, tmp_path: Path) -> None:
    old, new, named = BROKEN_VALUES[breakage]
    text = VALUES_FILE.read_text()
    assert text.count(old) == 1, f"the test's anchor {old!r} is no longer in {VALUES_FILE.name}"
    (tmp_path / "values.yaml").write_text(text.replace(old, new))
    errors = values_errors(load_values(tmp_path / "values.yaml"))
    assert errors and any(named in error for error in errors), errors


# ---- tests: agreement with compose -----------------------------------------------------------------------


def test_the_values_carry_composes_airflow_environment(values: dict, compose: dict) -> None:
    assert airflow_env_problems(values, compose) == []


def test_the_values_run_composes_image_memory_and_kedas_default_query(values: dict, compose: dict) -> None:
    assert airflow_component_problems(values, compose) == []


def test_airflow_mounts_the_shared_data_root(values: dict, compose: dict, manifests: dict) -> None:
    assert airflow_volume_problems(values, compose, manifests) == []


# ---- the checks find what they are meant to find ---------------------------------------------------------


def values_env(values: dict, name: str) -> dict:
    return next(entry for entry in values["env"] if entry["name"] == name)


VALUES_BREAKAGES: dict[str, tuple[Callable[[dict], Any], str]] = {
    "tuning value": (lambda v: v["config"]["scheduler"].update(task_queued_timeout="600"), "TASK_QUEUED_TIMEOUT"),
    "option dropped": (lambda v: v["config"]["dag_processor"].pop("refresh_interval"), "carried by nothing"),
    "option compose lacks": (lambda v: v["config"]["core"].update(parallelism="64"), "compose sets no"),
    "env value": (lambda v: values_env(v, "HSS_ANALYSIS_DEADLINE_S").update(value="60"), "HSS_ANALYSIS_DEADLINE_S"),
    "connection not secret": (
        lambda v: v["secret"].pop(0),
        "carried by nothing",
    ),
    "secret as config": (lambda v: v["config"]["core"].update(fernet_key="x"), "FERNET_KEY"),
    "bundle": (lambda v: v["dagProcessor"]["dagBundleConfigList"][0]["kwargs"].update(refresh_interval=60), "BUNDLE"),
    "executor": (lambda v: v.update(executor="KubernetesExecutor"), "EXECUTOR"),
}


@pytest.mark.parametrize("breakage", sorted(VALUES_BREAKAGES))
def test_the_environment_check_finds_broken_values(breakage: str, values: dict, compose: dict) -> None:
    change, expected = VALUES_BREAKAGES[breakage]
    broken = copy.deepcopy(values)
    change(broken)
    found = airflow_env_problems(broken, compose)
    assert any(expected in problem for problem in found), found


def test_the_component_check_finds_a_custom_keda_query_a_new_image_and_less_memory(values: dict, compose: dict) -> None:
    broken = copy.deepcopy(values)
    broken["workers"]["keda"]["query"] = "SELECT 1"
    broken["defaultAirflowTag"] = "3.3.3"
    broken["scheduler"]["resources"]["limits"]["memory"] = "512Mi"
    del broken["workers"]["args"]  # the chart's default: the default queue only
    found = airflow_component_problems(broken, compose)
    assert (
        any("query" in p for p in found) and any("3.3.3" in p for p in found) and any("scheduler" in p for p in found)
    )
    assert any("queues default,audio" in p for p in found), found


def test_the_volume_check_finds_a_data_root_mounted_elsewhere(values: dict, compose: dict, manifests: dict) -> None:
    broken = copy.deepcopy(values)
    broken["volumeMounts"][0]["mountPath"] = "/data"
    assert any("nothing mounted" in p for p in airflow_volume_problems(broken, compose, manifests))
