"""docker-compose.yml is secure by default: what a security reviewer checks first, on the rendered file.

- our containers run as AIRFLOW_UID with group 0 (default 50000, never root); only the init service starts as
  root, with the five capabilities its folder step needs, and steps down (docker/airflow-init.sh);
- every container drops all capabilities, cannot gain privileges, and has a memory and a pids limit;
- our images run with a read-only root filesystem (postgres and redis do not: their entrypoints write);
- Redis requires a password, and every client URL carries it;
- the init service gets every raw secret, so it can refuse placeholders (docker/init_checks.py).
Each check is also shown to find the problem in a configuration broken on purpose.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contracts.catalog import SERVICES
from contracts.deployment_secrets import SECRET_NAMES, is_placeholder
from e2e.tests.compose_render import BASE, example_env, render
from e2e.tests.test_compose_config import AIRFLOW_COMPONENTS, environment

# the containers of our images that run as AIRFLOW_UID (the init service starts as root, then steps down)
OURS = (*(name for name in AIRFLOW_COMPONENTS if name != "airflow-init"), "mail-sink", *(s.name for s in SERVICES))
INIT_CAPS = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"}
WRITABLE_ROOT = {"postgres", "redis", "airflow-init"}  # their entrypoints (or the seed step) write outside volumes


def memory_limit(service: dict[str, Any]) -> object:
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    return service.get("mem_limit") or limits.get("memory")


def pids_limit(service: dict[str, Any]) -> object:
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    return service.get("pids_limit") or limits.get("pids")


def hardening_problems(cfg: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in cfg["services"].items():
        if "ALL" not in (service.get("cap_drop") or []):
            problems.append(f"{name}: does not drop all capabilities")
        if not any(str(opt).startswith("no-new-privileges") for opt in service.get("security_opt") or []):
            problems.append(f"{name}: may gain privileges (no no-new-privileges)")
        if not memory_limit(service):
            problems.append(f"{name}: no memory limit")
        if not pids_limit(service):
            problems.append(f"{name}: no pids limit")
        if name not in WRITABLE_ROOT and not service.get("read_only"):
            problems.append(f"{name}: root filesystem is writable")
    return problems


def user_problems(cfg: dict[str, Any], uid: str) -> list[str]:
    problems = [
        f"{name}: runs as {cfg['services'][name].get('user')!r}, not {uid}:0"
        for name in OURS
        if str(cfg["services"][name].get("user")) != f"{uid}:0"
    ]
    init = cfg["services"]["airflow-init"]
    if set(init.get("cap_add") or []) - INIT_CAPS:
        problems.append(f"airflow-init: capabilities beyond {sorted(INIT_CAPS)}: {init.get('cap_add')}")
    if environment(init).get("AIRFLOW_UID") != uid:
        problems.append("airflow-init: does not know AIRFLOW_UID (it steps down to it)")
    return problems


def redis_problems(cfg: dict[str, Any], password: str) -> list[str]:
    problems = []
    command = cfg["services"]["redis"].get("command") or []
    if isinstance(command, str):
        command = command.split()
    if "--requirepass" not in command or command[command.index("--requirepass") + 1] != password:
        problems.append("redis: no --requirepass with REDIS_PASSWORD")
    for name, service in cfg["services"].items():
        broker = environment(service).get("AIRFLOW__CELERY__BROKER_URL")
        if broker is not None and f":{password}@" not in broker:
            problems.append(f"{name}: broker URL without the Redis password")
    return problems


def init_secret_problems(cfg: dict[str, Any]) -> list[str]:
    env = environment(cfg["services"]["airflow-init"])
    return [f"airflow-init: cannot check {name}" for name in SECRET_NAMES if not env.get(name)]


def test_every_container_is_hardened(base: dict, with_overlay: dict) -> None:
    assert hardening_problems(base) == []
    assert hardening_problems(with_overlay) == []


def test_our_containers_run_as_airflow_uid_with_group_0_and_default_to_50000(base: dict, tmp_path) -> None:
    assert user_problems(base, "50000") == []
    rendered = render(tmp_path, [BASE], {**example_env(), "AIRFLOW_UID": "1234"})
    assert user_problems(rendered, "1234") == []


def test_redis_requires_its_password_and_every_broker_url_carries_it(base: dict) -> None:
    assert redis_problems(base, example_env()["REDIS_PASSWORD"]) == []
    assert environment(base["services"]["redis"]).get("REDISCLI_AUTH") == example_env()["REDIS_PASSWORD"]


def test_the_init_service_sees_every_secret_it_must_check(base: dict) -> None:
    assert init_secret_problems(base) == []


def test_env_example_ships_no_usable_secret() -> None:
    values = example_env()
    assert [name for name in SECRET_NAMES if not is_placeholder(values.get(name))] == []


def _caps_kept(cfg: dict) -> None:
    cfg["services"]["workflow-audio"].pop("cap_drop")


def _privileges(cfg: dict) -> None:
    cfg["services"]["flower"]["security_opt"] = []


def _no_memory(cfg: dict) -> None:
    cfg["services"]["workflow-content"].pop("mem_limit")


def _writable(cfg: dict) -> None:
    cfg["services"]["airflow-scheduler"]["read_only"] = False


def _root_user(cfg: dict) -> None:
    cfg["services"]["airflow-worker"]["user"] = "0:0"


def _init_all_caps(cfg: dict) -> None:
    cfg["services"]["airflow-init"]["cap_add"] = ["ALL"]


def _open_redis(cfg: dict) -> None:
    cfg["services"]["redis"]["command"] = ["redis-server"]


def _broker_without_password(cfg: dict) -> None:
    environment_of = cfg["services"]["airflow-worker"]["environment"]
    environment_of["AIRFLOW__CELERY__BROKER_URL"] = "redis://redis:6379/0"


@pytest.mark.parametrize(
    ("breakage", "check", "expected"),
    [
        (_caps_kept, lambda c: hardening_problems(c), "workflow-audio: does not drop all capabilities"),
        (_privileges, lambda c: hardening_problems(c), "flower: may gain privileges"),
        (_no_memory, lambda c: hardening_problems(c), "workflow-content: no memory limit"),
        (_writable, lambda c: hardening_problems(c), "airflow-scheduler: root filesystem is writable"),
        (_root_user, lambda c: user_problems(c, "50000"), "airflow-worker: runs as '0:0'"),
        (_init_all_caps, lambda c: user_problems(c, "50000"), "airflow-init: capabilities beyond"),
        (_open_redis, lambda c: redis_problems(c, example_env()["REDIS_PASSWORD"]), "redis: no --requirepass"),
        (
            _broker_without_password,
            lambda c: redis_problems(c, example_env()["REDIS_PASSWORD"]),
            "airflow-worker: broker URL without",
        ),
    ],
    ids=lambda v: getattr(v, "__name__", "") if callable(v) and v.__name__.startswith("_") else "",
)
def test_each_check_finds_its_problem(base: dict, breakage, check, expected: str) -> None:
    broken = copy.deepcopy(base)
    breakage(broken)
    assert any(expected in problem for problem in check(broken)), check(broken)
