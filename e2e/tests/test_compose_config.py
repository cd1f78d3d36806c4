"""docker-compose.yml (and the test overlay) render, and the rendered stack keeps its invariants.

Runs `docker-compose config` (Debian's docker-compose 1.29, no daemon needed) with a throwaway env file
built from .env.example, parses the output and checks: a healthcheck on every service; one JWT secret and
Fernet key across the Airflow components; published ports bound to 127.0.0.1 on the seed's ports; a
scalable worker (no container_name, no published port, resource limits); the api-server's
`airflow-webserver` alias; conditions on every depends_on; the five AIRFLOW_CONN_WORKFLOW_* connections;
and that the test overlay run publishes no fixed host port. Each check is also shown to fail on a
broken configuration.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from contracts.catalog import AUDIO, INTELLIGENCE, SERVICES
from e2e.tests.compose_render import BASE, OVERLAY, example_env, overlay_run_env, render, run_config
from stack.paths import AUDIO_BALANCER

AIRFLOW_COMPONENTS = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "flower",
)
EXPECTED_BASE_PORTS = {
    "airflow-apiserver": {(8080, 8080)},
    "flower": {(5555, 5555)},
    "postgres": {(5437, 5432)},
    "redis": {(6384, 6379)},
    "prometheus": {(9090, 9090)},
    "alertmanager": {(9093, 9093)},
    **{spec.name: {(spec.port, spec.port)} for spec in SERVICES if spec.name != AUDIO.name},
    AUDIO.name: set(),  # replicas publish nothing: the balancer owns the service's port
    AUDIO_BALANCER: {(AUDIO.port, AUDIO.port)},
}


def connection_host(service: str) -> str:
    """Where Airflow's connection to a service points: workflow-audio's balancer, else the service itself."""
    return AUDIO_BALANCER if service == AUDIO.name else service


# ---- the checks: each returns the problems it finds ----------------------------------------------------


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def published_ports(service: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(host_ip, published — "" when ephemeral, target) for each published port."""
    ports = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):  # long syntax (compose v2 renders this)
            ports.append((entry.get("host_ip", ""), str(entry.get("published", "") or ""), int(entry["target"])))
            continue
        spec = str(entry).split("/")[0]
        parts = spec.split(":")
        if len(parts) == 3:
            host_ip, published, target = parts
        elif len(parts) == 2:
            host_ip, (published, target) = "", parts
        else:
            host_ip, published, target = "", "", parts[0]
        ports.append((host_ip, published, int(target)))
    return ports


def missing_healthchecks(cfg: dict[str, Any]) -> list[str]:
    return [
        f"{name}: no healthcheck"
        for name, service in cfg["services"].items()
        if not (service.get("healthcheck") or {}).get("test") or service["healthcheck"].get("disable")
    ]


ONE_SHOT = ("airflow-init",)  # runs once and exits: a restart policy would run it again and again


def restart_policy_problems(cfg: dict[str, Any]) -> list[str]:
    """Every long-running container comes back by itself after a crash. The docker pass kills a worker and
    workflow-audio and restarts PostgreSQL and Redis; the scheduler, triggerer and api-server faults run on the
    local backend only (docs/TESTING.md), so this is what holds their containers to the same policy."""
    problems = []
    for name, service in cfg["services"].items():
        policy, wanted = str(service.get("restart", "no")), "no" if name in ONE_SHOT else "unless-stopped"
        if policy != wanted:
            problems.append(f"{name}: restart {policy!r}, not {wanted!r}")
    return problems


def secret_problems(cfg: dict[str, Any]) -> list[str]:
    problems = []
    for var in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"):
        values = {name: environment(cfg["services"][name]).get(var, "") for name in AIRFLOW_COMPONENTS}
        if not all(values.values()):
            problems.append(f"{var} unset in {sorted(n for n, v in values.items() if not v)}")
        if len(set(values.values())) != 1:
            problems.append(f"{var} differs between Airflow components: {values}")
    for name in AIRFLOW_COMPONENTS:
        url = environment(cfg["services"][name]).get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL")
        if url != "http://airflow-apiserver:8080/execution/":
            problems.append(f"{name}: execution API URL {url!r}")
    return problems


def base_port_problems(cfg: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in cfg["services"].items():
        ports = published_ports(service)
        for host_ip, _, target in ports:
            if host_ip != "127.0.0.1":
                problems.append(f"{name}: port {target} published on {host_ip or 'all interfaces'}")
        got = {(int(published), target) for _, published, target in ports if published}
        if got != EXPECTED_BASE_PORTS.get(name, set()) or len(got) != len(ports):
            problems.append(f"{name}: publishes {ports}, expected {sorted(EXPECTED_BASE_PORTS.get(name, set()))}")
    return problems


def worker_problems(cfg: dict[str, Any]) -> list[str]:
    worker = cfg["services"]["airflow-worker"]
    problems = []
    if "container_name" in worker:
        problems.append(f"airflow-worker has container_name {worker['container_name']!r}: --scale cannot work")
    if worker.get("ports"):
        problems.append(f"airflow-worker publishes {worker['ports']}: --scale would collide")
    limits = {"cpus": worker.get("cpus"), "memory": worker.get("mem_limit")}
    if not limits["cpus"] or not limits["memory"]:
        problems.append(f"airflow-worker has no cpus/memory limits: {limits}")
    return problems


def audio_scale_problems(cfg: dict[str, Any]) -> list[str]:
    """`docker compose up --scale workflow-audio=N`: nothing may tie the service to one container."""
    audio, problems = cfg["services"][AUDIO.name], []
    if "container_name" in audio:
        problems.append(f"{AUDIO.name} has container_name {audio['container_name']!r}: --scale cannot work")
    if audio.get("ports"):
        problems.append(f"{AUDIO.name} publishes {audio['ports']}: --scale would collide (the balancer owns it)")
    return problems


def alias_problems(cfg: dict[str, Any]) -> list[str]:
    networks = cfg["services"]["airflow-apiserver"].get("networks") or {}
    aliases = [alias for net in networks.values() if isinstance(net, dict) for alias in net.get("aliases") or []]
    return [] if "airflow-webserver" in aliases else [f"airflow-apiserver aliases {aliases}: no airflow-webserver"]


def depends_on_problems(cfg: dict[str, Any]) -> list[str]:
    problems = []
    allowed = {"service_healthy", "service_completed_successfully"}
    for name, service in cfg["services"].items():
        deps = service.get("depends_on") or {}
        if isinstance(deps, list):
            problems.append(f"{name}: depends_on without conditions: {deps}")
            continue
        for dep, spec in deps.items():
            condition = (spec or {}).get("condition")
            if condition not in allowed:
                problems.append(f"{name} -> {dep}: condition {condition!r}")
            if dep == "airflow-init" and condition != "service_completed_successfully":
                problems.append(f"{name} -> airflow-init must wait for service_completed_successfully")
    return problems


def connection_problems(cfg: dict[str, Any], api_key: str) -> list[str]:
    problems = []
    for name in AIRFLOW_COMPONENTS:
        env = environment(cfg["services"][name])
        for spec in SERVICES:
            raw = env.get(spec.env_var)
            if not raw:
                problems.append(f"{name}: {spec.env_var} unset")
                continue
            conn = json.loads(raw)
            expected = {"conn_type": "http", "host": connection_host(spec.name), "port": spec.port, "password": api_key}
            got = {key: conn.get(key) for key in expected}
            if got != expected:
                problems.append(f"{name}: {spec.env_var} = {got}, expected {expected}")
    for spec in SERVICES:
        env = environment(cfg["services"][spec.name])
        if env.get("HSS_API_KEY") != api_key or env.get("HSS_DATA_ROOT") != "/app/data":
            problems.append(
                f"{spec.name}: HSS_API_KEY/HSS_DATA_ROOT = {env.get('HSS_API_KEY')}/{env.get('HSS_DATA_ROOT')}"
            )
    return problems


def fixed_host_port_problems(cfg: dict[str, Any]) -> list[str]:
    return [
        f"{name}: fixed host port {published} for {target} (or not on 127.0.0.1)"
        for name, service in cfg["services"].items()
        for host_ip, published, target in published_ports(service)
        if published or host_ip != "127.0.0.1"
    ]


# ---- the rendered files pass -----------------------------------------------------------------------------


def test_base_and_overlay_validate_quietly(tmp_path: Path) -> None:
    for files, env in (([BASE], example_env()), ([BASE, OVERLAY], overlay_run_env())):
        result = run_config(tmp_path, files, env, "-q")
        assert result.returncode == 0, result.stderr


def test_a_missing_secret_stops_compose_with_the_hint(tmp_path: Path) -> None:
    env = example_env()
    del env["AIRFLOW_JWT_SECRET"]
    result = run_config(tmp_path, [BASE], env, "-q")
    assert result.returncode != 0
    assert "set it in .env" in result.stderr


def test_every_service_has_a_healthcheck(base: dict, with_overlay: dict) -> None:
    assert set(base["services"]) >= set(AIRFLOW_COMPONENTS) | {"postgres", "redis"} | {s.name for s in SERVICES}
    assert missing_healthchecks(base) == []
    assert missing_healthchecks(with_overlay) == []


def test_every_long_running_container_restarts_after_a_crash(base: dict, with_overlay: dict) -> None:
    assert {"airflow-scheduler", "airflow-triggerer", "airflow-apiserver"} <= set(base["services"])
    assert restart_policy_problems(base) == []
    assert restart_policy_problems(with_overlay) == []


def test_airflow_components_share_one_jwt_secret_and_fernet_key(base: dict, with_overlay: dict) -> None:
    assert secret_problems(base) == []
    assert secret_problems(with_overlay) == []
    assert environment(base["services"]["airflow-worker"])["AIRFLOW__API_AUTH__JWT_SECRET"] == "change-me-jwt-secret"


def test_base_publishes_the_seed_ports_on_loopback_only(base: dict) -> None:
    assert base_port_problems(base) == []


def test_worker_scales(base: dict, with_overlay: dict) -> None:
    assert worker_problems(base) == []
    assert worker_problems(with_overlay) == []


def test_workflow_audio_scales_behind_its_balancer(base: dict, with_overlay: dict) -> None:
    for cfg in (base, with_overlay):
        assert audio_scale_problems(cfg) == []
    balancer = base["services"][AUDIO_BALANCER]
    assert any(str(volume).split(":")[0].endswith("deploy/haproxy/haproxy.cfg") for volume in balancer["volumes"])
    worker_waits_on = base["services"]["airflow-worker"]["depends_on"]
    assert worker_waits_on[AUDIO_BALANCER]["condition"] == "service_healthy"


def test_api_server_answers_to_airflow_webserver(base: dict) -> None:
    assert alias_problems(base) == []


def test_every_depends_on_waits_on_a_condition(base: dict, with_overlay: dict) -> None:
    assert depends_on_problems(base) == []
    assert depends_on_problems(with_overlay) == []


def test_the_five_connections_point_at_the_services_with_the_api_key(base: dict, with_overlay: dict) -> None:
    assert connection_problems(base, example_env()["HSS_API_KEY"]) == []
    assert connection_problems(with_overlay, example_env()["HSS_API_KEY"]) == []


def test_overlay_run_has_no_fixed_host_ports_and_the_local_stacks_task_slots(with_overlay: dict) -> None:
    """Docker and local figures compare only with the same slots: a worker's slot stays taken until Airflow's
    task supervisor exits, up to ~5 s after the task (its heartbeat-interval wait), so 2 slots per worker
    queued the next task of comprehensive_analysis for seconds (trigger→success 6.0 s vs 2.9 s locally)."""
    from stack.profiles import CELERY_ENV, CeleryProfile

    assert fixed_host_port_problems(with_overlay) == []
    key = "AIRFLOW__CELERY__WORKER_CONCURRENCY"
    assert environment(with_overlay["services"]["airflow-worker"])[key] == CELERY_ENV[key]
    parallelism = environment(with_overlay["services"]["airflow-scheduler"])["AIRFLOW__CORE__PARALLELISM"]
    assert int(parallelism) == CeleryProfile.parallelism


def test_the_local_stacks_tuning_holds_in_compose_too(base: dict) -> None:
    """Same scheduler loop, heartbeat timeout, DAG parsing and task supervisor as the local stacks, so docker and
    local compare."""
    from stack.airflow_stack import SCHEDULER_IDLE_SLEEP_S, WORKER_MIN_HEARTBEAT_S, AirflowSettings, airflow_env
    from stack.profiles import CELERY_ENV

    scheduler = environment(base["services"]["airflow-scheduler"])
    assert float(scheduler["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"]) == SCHEDULER_IDLE_SLEEP_S
    local = airflow_env(AirflowSettings(home=Path("/x"), api_port=8080))
    processor = environment(base["services"]["airflow-dag-processor"])
    for key in ("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"):
        assert processor[key] == local[key], key
    key = "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL"  # read by each task's supervisor, in the workers
    assert environment(base["services"]["airflow-worker"])[key] == local[key] == str(WORKER_MIN_HEARTBEAT_S)
    for key in CELERY_ENV:
        if key.startswith("AIRFLOW__SCHEDULER__"):
            assert scheduler[key] == CELERY_ENV[key], key


def test_every_airflow_component_has_the_analysis_deadline_and_the_smtp_sink(base: dict) -> None:
    """The deadline is read where the DAG is parsed, the mail sent where a task fails or a deadline passes."""
    from stack.airflow_stack import ANALYSIS_DEADLINE_S

    for name in ("airflow-dag-processor", "airflow-scheduler", "airflow-worker", "airflow-triggerer"):
        env = environment(base["services"][name])
        assert env["HSS_ANALYSIS_DEADLINE_S"] == ANALYSIS_DEADLINE_S, name
        assert env["AIRFLOW_CONN_SMTP_DEFAULT"].startswith("smtp://mail-sink:1025"), name
    assert "mail-sink" in base["services"]


def test_every_component_that_touches_data_mounts_the_host_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rendered = render(tmp_path, [BASE, OVERLAY], {**overlay_run_env(), "HSS_DATA_DIR": str(data_dir)})
    # the api-server too: the result pages (hss_ui plugin) read the data root
    readers = ("airflow-worker", "airflow-triggerer", "airflow-apiserver", *(spec.name for spec in SERVICES))
    for name in readers:
        volumes = [str(v) for v in rendered["services"][name].get("volumes", [])]
        assert any(v.startswith(f"{data_dir}:/app/data") for v in volumes), (name, volumes)


def test_base_images_come_from_variables(tmp_path: Path) -> None:
    env = {**example_env(), "HSS_POSTGRES_IMAGE": "mirror.test/pg:16", "HSS_REDIS_IMAGE": "mirror.test/redis:7"}
    env["HSS_PYTHON_IMAGE"] = "mirror.test/python:3.11"
    rendered = render(tmp_path, [BASE], env)
    assert rendered["services"]["postgres"]["image"] == "mirror.test/pg:16"
    assert rendered["services"]["redis"]["image"] == "mirror.test/redis:7"
    for name in ("airflow-scheduler", "workflow-audio"):
        assert rendered["services"][name]["build"]["args"]["HSS_PYTHON_IMAGE"] == "mirror.test/python:3.11"


# ---- each check fails on a broken configuration -------------------------------------------------------


def test_fixed_ports_check_fails_when_the_host_ports_are_not_emptied(tmp_path: Path) -> None:
    rendered = render(tmp_path, [BASE, OVERLAY], example_env())
    assert any("airflow-apiserver: fixed host port 8080" in p for p in fixed_host_port_problems(rendered))


def _without_healthcheck(cfg: dict) -> None:
    del cfg["services"]["redis"]["healthcheck"]


def _scheduler_not_restarted(cfg: dict) -> None:
    cfg["services"]["airflow-scheduler"]["restart"] = "no"


def _init_restarted(cfg: dict) -> None:
    cfg["services"]["airflow-init"]["restart"] = "on-failure"


def _other_jwt(cfg: dict) -> None:
    cfg["services"]["airflow-triggerer"]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] = "other"


def _other_fernet(cfg: dict) -> None:
    cfg["services"]["flower"]["environment"]["AIRFLOW__CORE__FERNET_KEY"] = "other"


def _all_interfaces(cfg: dict) -> None:
    cfg["services"]["postgres"]["ports"] = ["5437:5432/tcp"]


def _wrong_port(cfg: dict) -> None:
    cfg["services"][AUDIO_BALANCER]["ports"] = ["127.0.0.1:9001:8001/tcp"]


def _audio_published(cfg: dict) -> None:
    cfg["services"][AUDIO.name]["ports"] = ["127.0.0.1:8001:8001/tcp"]


def _audio_named(cfg: dict) -> None:
    cfg["services"][AUDIO.name]["container_name"] = "workflow-audio"


def _worker_name(cfg: dict) -> None:
    cfg["services"]["airflow-worker"]["container_name"] = "airflow-worker"


def _worker_port(cfg: dict) -> None:
    cfg["services"]["airflow-worker"]["ports"] = ["127.0.0.1:8793:8793/tcp"]


def _worker_no_limits(cfg: dict) -> None:
    del cfg["services"]["airflow-worker"]["mem_limit"]


def _no_alias(cfg: dict) -> None:
    cfg["services"]["airflow-apiserver"]["networks"] = {"default": None}


def _bare_depends_on(cfg: dict) -> None:
    cfg["services"]["airflow-scheduler"]["depends_on"] = ["postgres"]


def _init_only_started(cfg: dict) -> None:
    cfg["services"]["airflow-triggerer"]["depends_on"]["airflow-init"] = {"condition": "service_started"}


def _missing_connection(cfg: dict) -> None:
    del cfg["services"]["airflow-worker"]["environment"][INTELLIGENCE.env_var]


def _connection_wrong_host(cfg: dict) -> None:
    env = cfg["services"]["airflow-worker"]["environment"]
    env[AUDIO.env_var] = env[AUDIO.env_var].replace(AUDIO.name, "localhost")


@pytest.mark.parametrize(
    ("break_it", "check"),
    [
        (_without_healthcheck, missing_healthchecks),
        (_scheduler_not_restarted, restart_policy_problems),
        (_init_restarted, restart_policy_problems),
        (_other_jwt, secret_problems),
        (_other_fernet, secret_problems),
        (_all_interfaces, base_port_problems),
        (_wrong_port, base_port_problems),
        (_audio_published, audio_scale_problems),
        (_audio_named, audio_scale_problems),
        (_worker_name, worker_problems),
        (_worker_port, worker_problems),
        (_worker_no_limits, worker_problems),
        (_no_alias, alias_problems),
        (_bare_depends_on, depends_on_problems),
        (_init_only_started, depends_on_problems),
        (_missing_connection, lambda cfg: connection_problems(cfg, example_env()["HSS_API_KEY"])),
        (_connection_wrong_host, lambda cfg: connection_problems(cfg, example_env()["HSS_API_KEY"])),
        (_all_interfaces, fixed_host_port_problems),
    ],
)
def test_each_check_reports_a_broken_configuration(base: dict, break_it, check) -> None:
    broken = copy.deepcopy(base)
    break_it(broken)
    assert check(broken), f"{check} did not notice {break_it.__name__}"


def test_the_workers_preload_the_dag_modules_as_on_the_local_stack(base: dict, with_overlay: dict) -> None:
    from stack.profiles import CELERY_ENV

    key = "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"
    for cfg in (base, with_overlay):
        for name in ("airflow-worker", "airflow-scheduler"):
            assert environment(cfg["services"][name]).get(key) == CELERY_ENV[key], name


def test_every_airflow_component_reads_the_dags_from_the_same_git_bundle_as_the_local_full_stack(
    tmp_path: Path,
) -> None:
    from stack.dag_repo import REPO_IN_CONTAINERS, bundle_env

    repo = tmp_path / "dags.git"
    rendered = render(tmp_path, [BASE, OVERLAY], {**overlay_run_env(), "HSS_DAGS_REPO": str(repo)})
    components = (
        "airflow-dag-processor",
        "airflow-scheduler",
        "airflow-worker",
        "airflow-triggerer",
        "airflow-apiserver",
    )
    for name in components:
        service = rendered["services"][name]
        env = environment(service)
        for key, value in bundle_env(REPO_IN_CONTAINERS).items():
            assert env.get(key) == value, (name, key)
        volumes = [str(v) for v in service.get("volumes", [])]
        assert any(v.startswith(f"{repo}:{REPO_IN_CONTAINERS}") and v.endswith(":ro") for v in volumes), volumes
