"""The docker backend without a Docker daemon: what DockerStack hands to compose, and how it drives it.

- the compose command and the env file it builds (both files, empty host ports, the data folder, its own
  project), validated by Debian's `docker-compose config` (1.29, no daemon needed);
- a fake `docker` binary that records every call and answers `compose ps` like Compose v2, plus a small
  HTTP server standing in for Airflow, the services and Flower: up/stop/start/kill_worker/logs/down issue
  the right compose commands, and a failed start tears down and reports the unhealthy service's log;
- docker_available() says no (with the reason) when DOCKER_HOST points nowhere; the E2E_BACKEND rules.

Over 400 lines on purpose: the fake docker binary and fake HTTP server are shared by most tests here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from testcontainers.core.config import testcontainers_config

from contracts.catalog import AUDIO, SERVICES
from contracts.data_layout import DataLayout
from contracts.deployment_secrets import PLACEHOLDER_PREFIX
from fixtures.http_fakes import JsonHandler
from stack import backend as backend_module
from stack import docker_stack as docker_stack_module
from stack.backend import DockerUnavailable, make_stack, resolve_backend
from stack.compose_project import DockerStackError, docker_available
from stack.config import StackConfig
from stack.docker_stack import BASE_FILE, HOST_PORT_VARS, TEST_OVERLAY, DockerStack, default_airflow_uid
from stack.env_file import read_env_file
from stack.paths import REPO_ROOT

TARGET_PORTS = {
    "airflow-apiserver": 8080,
    "flower": 5555,
    "prometheus": 9090,
    "alertmanager": 9093,
    **{spec.name: spec.port for spec in SERVICES},
    "workflow-audio-lb": 8001,  # the balancer publishes workflow-audio's port
}

FAKE_COMPOSE = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_COMPOSE_LOG"], "a") as log:
    project = args[args.index("--project-name") + 1] if "--project-name" in args else None
    log.write(json.dumps({"argv": args, "project": project,
                          "shell_port": os.environ.get("HSS_AIRFLOW_HOST_PORT")}) + "\\n")
rest = args[1:]  # after "compose": skip -f/--env-file pairs
while rest and rest[0].startswith("-"):
    rest = rest[2:]
sub = rest[0]
if sub == "ps":
    port = int(os.environ["FAKE_COMPOSE_PORT"])
    for name, target in json.loads(os.environ["FAKE_COMPOSE_TARGETS"]).items():
        health = "unhealthy" if name == os.environ.get("FAKE_COMPOSE_UNHEALTHY") else "healthy"
        print(json.dumps({"ID": name, "Name": name, "Service": name, "State": "running", "Health": health,
                          "ExitCode": 0, "Publishers": [{"URL": "127.0.0.1", "TargetPort": target,
                                                         "PublishedPort": port, "Protocol": "tcp"}]}))
    print(json.dumps({"ID": "i", "Service": "airflow-init", "State": "exited", "ExitCode": 0, "Publishers": []}))
    unhealthy = os.environ.get("FAKE_COMPOSE_UNHEALTHY")
    if unhealthy and unhealthy not in json.loads(os.environ["FAKE_COMPOSE_TARGETS"]):
        print(json.dumps({"ID": "u", "Service": unhealthy, "State": "running", "Health": "unhealthy"}))
elif sub == "logs":
    print("log line of " + " ".join(rest[1:]))
"""


@pytest.fixture
def no_docker_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """DOCKER_HOST at a socket that does not exist (and no ~/.testcontainers.properties tc.host in the way)."""
    host = f"unix://{tmp_path}/no-such-docker.sock"
    monkeypatch.setenv("DOCKER_HOST", host)
    monkeypatch.delenv("TESTCONTAINERS_HOST_OVERRIDE", raising=False)
    monkeypatch.setattr(testcontainers_config, "tc_properties", {})
    return host


class FakeEndpoints(JsonHandler):
    """Airflow's health, every service's /ready and Flower's /api/workers on one port."""

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        if self.path.startswith("/api/v2/monitor/health"):
            body = {key: {"status": state.get(key, "healthy")} for key in ("metadatabase", "scheduler", "triggerer")}
            body["dag_processor"] = {"status": "healthy"}
        elif self.path.startswith("/api/workers"):
            authorized = self.headers.get("Authorization", "").startswith("Basic ")
            body = {"celery@worker": {"timestamp": time.time()}} if authorized and state.get("workers", True) else {}
        elif self.path == "/ready":
            body = {"status": "ready"}
        elif self.path == "/lb/metrics":  # HAProxy's exporter: one replica in service
            text = (
                b'haproxy_server_status{proxy="workflow-audio",server="replica1",state="UP"} 1\n'
                b'haproxy_server_check_status{proxy="workflow-audio",server="replica1",state="L7OK"} 1\n'
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        else:
            self.send_error(404)
            return
        self.send_json(200, body)


@pytest.fixture
def endpoints() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEndpoints)
    server.state = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_compose(tmp_path: Path, endpoints: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable `docker` stand-in; its calls land in the returned log (one JSON line each)."""
    binary, log = tmp_path / "bin" / "docker", tmp_path / "compose-calls.jsonl"
    binary.parent.mkdir()
    binary.write_text(f"#!{sys.executable}\n{FAKE_COMPOSE}")
    binary.chmod(0o755)
    monkeypatch.setenv("FAKE_COMPOSE_LOG", str(log))
    monkeypatch.setenv("FAKE_COMPOSE_PORT", str(endpoints.server_address[1]))
    monkeypatch.setenv("FAKE_COMPOSE_TARGETS", json.dumps(TARGET_PORTS))
    monkeypatch.setenv("HSS_AIRFLOW_HOST_PORT", "8080")  # a user's shell setting that must not reach compose
    return binary


def calls(tmp_path: Path) -> list[dict]:
    path = tmp_path / "compose-calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def subcommands(tmp_path: Path) -> list[list[str]]:
    """Each call's arguments after `compose -f … -f … --env-file …`, except the `ps` polls."""
    result = []
    for call in calls(tmp_path):
        rest = call["argv"][1:]
        while rest and rest[0].startswith("-"):
            rest = rest[2:]
        if rest[0] != "ps":
            result.append(rest)
    return result


# ---- what DockerStack hands to compose ---------------------------------------------------------------------


def test_compose_command_names_both_files_the_generated_env_file_and_the_project(tmp_path: Path) -> None:
    stack = DockerStack(StackConfig(state_dir=tmp_path))
    env_file = stack.prepare()
    command = stack.compose_command()
    assert command[1:] == [
        *("compose", "-f", BASE_FILE, "-f", TEST_OVERLAY, "--env-file", str(env_file)),
        *("--project-name", stack.project_name),
    ]
    assert (BASE_FILE, TEST_OVERLAY) == ("docker-compose.yml", "docker-compose.test.yml")
    assert stack.compose.context == REPO_ROOT and stack.build


def test_make_up_uses_the_users_env_file_the_base_file_alone_and_keeps_volumes(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("COMPOSE_PROJECT_NAME=my-hss\nHSS_DATA_DIR=somewhere/data\n")
    config = StackConfig(state_dir=tmp_path / "state", env_file=env_file, workers=3, audio_replicas=2)
    stack = DockerStack(config)
    assert stack.compose_command()[2:] == ["-f", BASE_FILE, "--env-file", str(env_file), "--project-name", "my-hss"]
    assert stack.data_root == REPO_ROOT / "somewhere" / "data"
    assert stack.compose.keep_volumes and stack.compose.scale == {"airflow-worker": 3, "workflow-audio": 2}
    # make up writes the uid the containers run as into .env: the host user's (50000 for root)
    assert read_env_file(env_file)["AIRFLOW_UID"] == str(default_airflow_uid()) == str(stack.airflow_uid)


def test_env_file_empties_every_host_port_and_points_at_the_host_data_folder(tmp_path: Path) -> None:
    stack = DockerStack(StackConfig(state_dir=tmp_path))
    env_file = stack.prepare()
    values = read_env_file(env_file)
    assert {var: values.get(var) for var in HOST_PORT_VARS} == dict.fromkeys(HOST_PORT_VARS, "")
    assert values["HSS_DATA_DIR"] == str(stack.data_root)
    assert values["COMPOSE_PROJECT_NAME"] == stack.project_name
    assert values["HSS_SCHEDULER_CONTAINER"] == f"{stack.project_name}-airflow-scheduler"  # beside make up
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    for key in ("POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "FLOWER_PASSWORD"):
        assert values[key] and not values[key].startswith(PLACEHOLDER_PREFIX), key
    for folder in DataLayout(stack.data_root).all_folders():  # private: owner and group 0 only, never world-writable
        assert stat.S_IMODE(folder.stat().st_mode) == 0o770, folder
        assert folder.stat().st_uid in (os.getuid(), stack.airflow_uid), folder
    assert values["AIRFLOW_UID"] == str(stack.airflow_uid) == str(default_airflow_uid())
    assert stack.airflow_uid != 0  # the containers never run as root by default
    # the mail folder and the DAG repository are left to the init service, as on a plain `docker compose up`
    assert not stack.mail_dir.exists() and not stack.dag_repo.exists()
    assert stack.api_key == values["HSS_API_KEY"] and not stack.api_key.startswith(PLACEHOLDER_PREFIX)
    assert (stack.username, stack.password) == (values["AIRFLOW_ADMIN_USER"], values["AIRFLOW_ADMIN_PASSWORD"])
    assert stack.prepare() == env_file and read_env_file(env_file) == values  # idempotent: secrets kept


def test_each_stack_gets_its_own_valid_project_name(tmp_path: Path) -> None:
    names = {DockerStack(StackConfig(state_dir=tmp_path / str(i))).project_name for i in range(3)}
    assert len(names) == 3
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name) for name in names), names


def test_compose_commands_see_the_project_and_not_the_shell_port_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSS_AIRFLOW_HOST_PORT", "8080")
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "someone-elses")
    stack = DockerStack(StackConfig(state_dir=tmp_path))
    stack.prepare()
    env = stack.compose.subprocess_env()
    assert "HSS_AIRFLOW_HOST_PORT" not in env and "COMPOSE_PROJECT_NAME" not in env  # the env file's keys
    assert stack.compose_command()[-2:] == ["--project-name", stack.project_name]


def test_docker_compose_config_accepts_the_generated_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose missing: sudo apt-get install -y docker-compose (or make system-deps)"
    monkeypatch.setenv("HSS_AIRFLOW_HOST_PORT", "8080")  # stripped by subprocess_env, as for every compose call
    stack = DockerStack(StackConfig(state_dir=tmp_path / "state with space"))
    stack.prepare()
    command = [binary, *stack.compose_command()[2:]]  # docker-compose 1.29 takes the same flags
    env = stack.compose.subprocess_env()
    quiet = subprocess.run([*command, "config", "-q"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    rendered = subprocess.run([*command, "config"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    services = yaml.safe_load(rendered.stdout)["services"]
    for name, service in services.items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1::"), (name, port)  # ephemeral, loopback only
    for name in ("airflow-worker", *(spec.name for spec in SERVICES)):
        assert f"{stack.data_root}:/app/data:rw" in services[name]["volumes"], name
    connection = services["airflow-worker"]["environment"][AUDIO.env_var]
    assert f'"password": "{stack.api_key}"' in connection


# ---- driving compose (fake binary) ---------------------------------------------------------------------------


@pytest.fixture
def images_present(monkeypatch: pytest.MonkeyPatch) -> None:
    """The base-image check asks a real daemon; the fake compose has none behind it."""
    monkeypatch.setattr(docker_stack_module, "ensure_base_images", lambda compose, progress: None)


@pytest.fixture
def saved_logs(monkeypatch: pytest.MonkeyPatch, fake_compose: Path) -> list[tuple[str, Path, int]]:
    """down() saves the containers' logs through the Engine API (no daemon behind the fake compose): each call's
    project, folder and how many compose commands had run by then."""
    saved: list[tuple[str, Path, int]] = []
    log = Path(os.environ["FAKE_COMPOSE_LOG"])
    monkeypatch.setattr(
        docker_stack_module,
        "save_project_logs",
        lambda project, folder: saved.append((project, folder, len(log.read_text().splitlines()))),
    )
    return saved


def test_up_stop_start_kill_logs_down_issue_the_compose_commands(
    tmp_path: Path,
    fake_compose: Path,
    endpoints: ThreadingHTTPServer,
    images_present: None,
    saved_logs: list[tuple[str, Path, int]],
) -> None:
    stack = DockerStack(StackConfig(state_dir=tmp_path / "state", compose_binary=str(fake_compose)))
    stack.up()
    port = endpoints.server_address[1]
    assert stack.airflow_url == f"http://127.0.0.1:{port}"
    assert stack.service_urls == {spec.name: f"http://127.0.0.1:{port}" for spec in SERVICES}
    assert stack.flower is not None and stack.flower.password == read_env_file(stack.env_path)["FLOWER_PASSWORD"]
    assert stack.info()["backend"] == "docker" and stack.info()["api_key"] == stack.api_key
    assert stack.info()["workers"] == 1 and stack.info()["data_root"] == str(stack.data_root)

    stack.stop_service("workflow-audio")
    stack.start_service("workflow-audio")
    stack.kill_worker()
    assert "log line of airflow-worker" in stack.logs("airflow-worker")
    assert "log line of airflow-scheduler" in stack.logs("scheduler")  # the local backend's name works too
    with pytest.raises(KeyError, match="unknown service"):
        stack.stop_service("workflow-nope")
    stack.down()
    stack.down()  # a second down has nothing left to remove

    commands = subcommands(tmp_path)
    assert commands == [
        ["build"],
        ["up", "--detach", "--wait", "--wait-timeout=600", "--scale=airflow-worker=1", "--scale=workflow-audio=1"],
        ["stop", "workflow-audio"],
        ["start", "workflow-audio"],
        ["kill", "-s", "SIGKILL", "airflow-worker"],
        ["start", "airflow-worker"],
        ["logs", "airflow-worker"],
        ["logs", "airflow-scheduler"],
        ["down", "--volumes", "--timeout", "2"],  # a test run's containers: nothing to stop gracefully
    ]
    # down first saves every container's log (they are gone afterwards), once: the second down has no project
    assert saved_logs == [(stack.project_name, tmp_path / "state" / "logs", len(calls(tmp_path)) - 1)]
    assert {call["project"] for call in calls(tmp_path)} == {stack.project_name}
    assert {call["shell_port"] for call in calls(tmp_path)} == {None}


def test_a_failed_start_reports_the_unhealthy_service_log_and_tears_down(
    tmp_path: Path,
    fake_compose: Path,
    endpoints: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    images_present: None,
) -> None:
    monkeypatch.setattr(docker_stack_module, "save_project_logs", lambda project, folder: [])
    endpoints.state["scheduler"] = "unhealthy"  # type: ignore[attr-defined]
    monkeypatch.setenv("FAKE_COMPOSE_UNHEALTHY", "airflow-scheduler")
    stack = DockerStack(StackConfig(state_dir=tmp_path / "state", compose_binary=str(fake_compose), timeout=1.0))
    with pytest.raises(DockerStackError) as failure:
        stack.up()
    message = str(failure.value)
    assert "airflow-scheduler: Airflow health reports scheduler 'unhealthy'" in message
    assert "docker compose logs airflow-scheduler" in message and "log line of airflow-scheduler" in message
    assert subcommands(tmp_path)[-1] == ["down", "--volumes", "--timeout", "2"]


def test_down_without_up_runs_no_compose_command(tmp_path: Path, fake_compose: Path) -> None:
    DockerStack(StackConfig(state_dir=tmp_path / "state", compose_binary=str(fake_compose))).down()
    assert calls(tmp_path) == []


# ---- is there a daemon, which backend --------------------------------------------------------------------------


def test_docker_available_says_no_with_the_reason(no_docker_daemon: str) -> None:
    available, reason = docker_available()
    assert available is False
    assert reason.startswith(f"no Docker daemon answers at {no_docker_daemon}: ")
    assert "\n" not in reason


def test_resolve_backend_rules(no_docker_daemon: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("E2E_BACKEND", raising=False)
    assert resolve_backend() == "local"  # auto, and no daemon answers
    for value, expected in (("local", "local"), ("docker", "docker"), (" Local ", "local"), ("auto", "local")):
        monkeypatch.setenv("E2E_BACKEND", value)
        assert resolve_backend() == expected, value
    assert resolve_backend("docker") == "docker"  # an explicit argument wins over the variable
    monkeypatch.setenv("E2E_BACKEND", "kubernetes")
    with pytest.raises(ValueError, match="allowed values: auto, docker, local"):
        resolve_backend()
    monkeypatch.setattr(backend_module, "docker_available", lambda: (True, "answers"))
    assert resolve_backend("auto") == "docker"


def test_make_stack_docker_without_a_daemon_raises_docker_unavailable(no_docker_daemon: str, tmp_path: Path) -> None:
    with pytest.raises(DockerUnavailable, match=r"^no Docker daemon answers at unix://"):
        make_stack("docker", StackConfig(state_dir=tmp_path))
    with pytest.raises(ValueError, match="allowed values"):
        make_stack("podman", StackConfig(state_dir=tmp_path))


def test_make_stack_docker_with_a_daemon_but_no_compose_plugin_is_an_error_not_a_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "docker_daemon_answers", lambda: (True, "a Docker daemon answers"))
    monkeypatch.setattr(backend_module, "compose_v2_problem", lambda: "`docker compose version` fails")
    with pytest.raises(RuntimeError, match="docker backend: `docker compose version` fails") as failure:
        make_stack("docker", StackConfig(state_dir=tmp_path))
    assert not isinstance(failure.value, DockerUnavailable)
    monkeypatch.setattr(backend_module, "compose_v2_problem", lambda: None)
    stack = make_stack("docker", StackConfig(state_dir=tmp_path))
    assert isinstance(stack, DockerStack) and stack.state_dir == tmp_path.resolve()


def test_an_image_that_cannot_be_pulled_is_named_with_the_variable_that_replaces_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import docker

    from stack import compose_project

    class Images:
        def get(self, name: str) -> None:
            raise docker.errors.ImageNotFound(name)

        def pull(self, name: str) -> None:
            raise docker.errors.APIError("registry-1.docker.io: no such host")

    class Client:
        images = Images()

        def close(self) -> None:
            pass

    monkeypatch.setattr(compose_project.docker, "from_env", Client)
    monkeypatch.setattr(compose_project, "base_images", lambda compose: {"postgres:16": "HSS_POSTGRES_IMAGE"})
    with pytest.raises(DockerStackError) as failure:
        compose_project.ensure_base_images(None, progress=lambda _: None)
    message = str(failure.value)
    assert "cannot pull the image postgres:16" in message and "no such host" in message
    assert "set HSS_POSTGRES_IMAGE to an image" in message


def test_container_memory_is_usage_minus_inactive_cache_as_docker_stats_shows_it() -> None:
    from stack.docker_api import memory_in_use

    v2 = {"memory_stats": {"usage": 500 * 2**20, "stats": {"inactive_file": 60 * 2**20}}}
    v1 = {"memory_stats": {"usage": 300 * 2**20, "stats": {"total_inactive_file": 20 * 2**20}}}
    assert memory_in_use(v2) == 440 * 2**20
    assert memory_in_use(v1) == 280 * 2**20
    assert memory_in_use({"memory_stats": {}}) == 0.0  # not running


def test_make_up_names_one_project_per_checkout_and_writes_it_into_env(tmp_path: Path) -> None:
    from stack.docker_stack import DEFAULT_PROJECT

    env_file = tmp_path / ".env"
    env_file.write_text("POSTGRES_PASSWORD=x\n")
    stack = DockerStack(StackConfig(state_dir=tmp_path / "state", env_file=env_file))
    assert stack.project_name == DEFAULT_PROJECT and re.fullmatch(r"hss-workflow-[0-9a-f]{6}", DEFAULT_PROJECT)
    assert read_env_file(env_file)["COMPOSE_PROJECT_NAME"] == DEFAULT_PROJECT  # plain `docker compose ps` finds it
    assert read_env_file(env_file)["POSTGRES_PASSWORD"] == "x"


def test_a_password_mismatch_in_a_log_gets_the_stale_volume_hint(tmp_path: Path, monkeypatch) -> None:
    from testcontainers.compose import ComposeContainer

    stack = DockerStack(StackConfig(state_dir=tmp_path))
    init = ComposeContainer(Service="airflow-init", State="exited", ExitCode=1)
    monkeypatch.setattr(stack.compose, "get_containers", lambda include_all=False: [init])
    monkeypatch.setattr(stack, "_log_tail", lambda service: 'FATAL:  password authentication failed for user "a"')
    report = stack._failure_report(RuntimeError("dependency failed to start"))
    assert "--- docker compose logs airflow-init" in report
    assert "hint: the metadata DB volume was created with another POSTGRES_PASSWORD" in report
    assert f"--project-name {stack.project_name} down --volumes" in report
