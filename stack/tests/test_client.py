"""The launcher pieces and the REST client.

Cheap tests build the environment, stack.json and client errors without starting Airflow. The tests
marked slow run one real embedded stack (no services) on a throwaway DAG folder: login, DAG parsing
and import errors, trigger with conf, task-state callbacks, XCom, task logs, refused requests, and
that down() leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

import stack.client as client_module
import stack.waiting as waiting_module
from contracts.catalog import AUDIO
from fixtures.http_fakes import JsonHandler, LocalServer
from stack.airflow_stack import (
    BIN_DIR,
    AirflowSettings,
    airflow_components,
    airflow_env,
    load_or_create_secrets,
)
from stack.client import AirflowClient, AirflowClientError, TaskChange, _explain
from stack.config import StackConfig
from stack.demo import failure_report, run_dag
from stack.local_stack import LocalStack
from stack.process_control import groups_left
from stack.processes import LaunchError, ManagedProcess, free_port
from stack.profiles import get_profile
from stack.services import connection_uri_env

PROBE_DAG = """
from airflow.sdk import Param, dag, task


@dag(schedule=None, tags=["probe"], params={"n": Param(1, type="integer"), "fail": Param(False, type="boolean")})
def e2e_probe():
    @task
    def first(params=None):
        print("first task says hello")
        return params["n"]

    @task
    def second(x, params=None):
        if params["fail"]:
            raise ValueError("probe asked to fail")
        return {"double": x * 2}

    second(first())


e2e_probe()
"""
BROKEN_DAG = 'from airflow.sdk import dag\n\nraise RuntimeError("broken on purpose")\n'


def port_closed(url: str) -> bool:
    host, port = url.split("://")[1].split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


# --- cheap --------------------------------------------------------------------------------------------


def test_env_is_shared_by_every_component_and_carries_path_plugins_and_connections(tmp_path: Path) -> None:
    urls = {"workflow-audio": "http://127.0.0.1:8001", "workflow-content": "http://127.0.0.1:8002"}
    settings = AirflowSettings(home=tmp_path / "home", api_port=18080, data_root=tmp_path / "data")
    settings.extra_env.update(connection_uri_env(urls, "key-1"))
    env = airflow_env(settings)
    again = airflow_env(AirflowSettings(home=tmp_path / "home", api_port=18080))

    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == again["AIRFLOW__API_AUTH__JWT_SECRET"]  # kept in AIRFLOW_HOME
    assert env["AIRFLOW__CORE__FERNET_KEY"] == again["AIRFLOW__CORE__FERNET_KEY"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'home' / 'airflow.db'}"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "hss_airflow.local_executor.PreloadingLocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] == "0.25"
    assert env["PATH"].split(os.pathsep)[0] == str(BIN_DIR)
    assert shutil.which("airflow", path=env["PATH"]) == str(BIN_DIR / "airflow")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"].endswith("airflow/plugins")
    assert "airflow/plugins" not in env.get("PYTHONPATH", "")  # hss_airflow is installed, not put on a path
    assert env["HSS_DATA_ROOT"] == str(tmp_path / "data")
    audio = json.loads(env[AUDIO.env_var])
    assert (audio["host"], audio["port"], audio["password"]) == ("127.0.0.1", 8001, "key-1")

    components = airflow_components(settings, env, tmp_path / "logs")
    assert [p.name for p in components] == ["api-server", "scheduler", "dag-processor", "triggerer"]
    assert all(p.env is env for p in components)
    assert components[0].health_url == "http://127.0.0.1:18080/api/v2/monitor/health"


def test_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path)
    assert first == load_or_create_secrets(tmp_path)
    assert stat.S_IMODE((tmp_path / "stack-secrets.json").stat().st_mode) == 0o600


def test_profiles_name_their_executor_and_unknown_ones_are_refused() -> None:
    assert get_profile("embedded").executor == "hss_airflow.local_executor.PreloadingLocalExecutor"
    assert get_profile("celery").executor == "CeleryExecutor"
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("kubernetes")


def test_stack_json_names_urls_login_key_data_root_and_pids_and_down_removes_it(tmp_path: Path) -> None:
    stack = LocalStack(StackConfig(state_dir=tmp_path / "state", api_key="k", password="pw"), progress=lambda _: None)
    stack.settings = AirflowSettings(home=stack.airflow_home, api_port=18080)
    stack.service_urls = {"workflow-audio": "http://127.0.0.1:8001"}
    sleeper = stack.group.start(ManagedProcess("sleeper", ["sleep", "60"], stack.logs_dir / "sleeper.log"))
    info = json.loads(stack.write_stack_file().read_text())

    assert info["airflow"] == {
        "url": "http://127.0.0.1:18080",
        "api": "http://127.0.0.1:18080/api/v2",
        "username": "admin",
        "password": "pw",
    }
    assert info["services"] == {"workflow-audio": "http://127.0.0.1:8001"}
    assert (info["api_key"], info["profile"]) == ("k", "embedded")
    assert info["data_root"] == str(tmp_path / "state" / "data")
    assert info["pids"] == {"sleeper": sleeper.pid}
    assert stat.S_IMODE(stack.stack_file.stat().st_mode) == 0o600

    # A second stack on the same state folder is refused while those pids live.
    second = LocalStack(StackConfig(state_dir=tmp_path / "state"), progress=lambda _: None)
    with pytest.raises(LaunchError, match="already runs"):
        second.up()
    second.down()
    assert stack.stack_file.exists()  # the refused stack leaves the running one's file alone
    stack.down()
    assert not sleeper.alive() and not stack.stack_file.exists()


def test_client_against_a_stopped_server_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(AirflowClientError, match=r"cannot reach Airflow at .* Is the api-server running"):
        AirflowClient(url, "admin", "admin")
    client = AirflowClient(url, "admin", "admin", login=False)
    with pytest.raises(AirflowClientError, match=r"cannot reach Airflow .* to trigger DAG 'x'"):
        client.trigger("x", {})
    assert time.monotonic() - started < 5  # no retry loop


class FlakyTriggerApi(JsonHandler):
    """Answers the first trigger with 500 after creating the run (SQLite's lost commit race), then 409."""

    created: dict[str, dict] = {}
    posts = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).posts += 1
        run_id = body["dag_run_id"]
        if type(self).posts == 1:
            self.created[run_id] = body
            return self.send_json(500, {"reason": "Database error"})
        self.send_json(409 if run_id in self.created else 201, {"detail": "exists"})

    def do_GET(self) -> None:
        run_id = self.path.rsplit("/", 1)[-1]
        now = "2026-01-01T00:00:00Z"
        self.send_json(
            200,
            {
                "dag_id": "x",
                "dag_display_name": "x",
                "dag_run_id": urllib.parse.unquote(run_id),
                "dag_versions": [],
                "run_after": now,
                "run_type": "manual",
                "state": "queued",
                "conf": self.created.get(urllib.parse.unquote(run_id), {}).get("conf"),
            },
        )


def test_trigger_retries_a_5xx_with_the_same_run_id_and_never_starts_two_runs() -> None:
    server = LocalServer(FlakyTriggerApi)
    try:
        client = AirflowClient(server.url, "admin", "admin", login=False)
        run = client.trigger("x", {"song_id": "a"})
    finally:
        server.close()
    assert FlakyTriggerApi.posts == 2
    assert list(FlakyTriggerApi.created) == [run.dag_run_id]  # one run, found again after the 409
    assert run.dag_run_id.startswith("manual__") and run.conf == {"song_id": "a"}


class StuckRunApi(JsonHandler):
    """A run that stays running, its one task too; counts the GETs per kind."""

    gets: dict[str, int] = {"run": 0, "task instances": 0}
    NOW = "2026-01-01T00:00:00Z"

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path.endswith("/taskInstances"):
            type(self).gets["task instances"] += 1
            ti = {
                "id": "0190e2f6-0000-7000-8000-000000000001",
                "task_id": "audio_analysis",
                "task_display_name": "audio_analysis",
                "dag_id": "x",
                "dag_display_name": "x",
                "dag_run_id": "r1",
                "map_index": -1,
                "max_tries": 2,
                "try_number": 1,
                "pool": "default_pool",
                "pool_slots": 1,
                "executor_config": "{}",
                "run_after": self.NOW,
                "state": "running",
            }
            return self.send_json(200, {"task_instances": [ti], "total_entries": 1})
        type(self).gets["run"] += 1
        run = {"dag_id": "x", "dag_display_name": "x", "dag_run_id": "r1", "dag_versions": [], "run_after": self.NOW}
        self.send_json(200, {**run, "run_type": "manual", "state": "running"})


class FakeClock:
    """`time` for stack.waiting and stack.client: a sleep advances the clock at once, so a wait's polls are counted
    by the poll interval alone, however slow the machine's round trips are (beside CI's docker pass one took
    ~300 ms, and a wall-clock second held three polls)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_wait_polls_the_run_state_alone_and_names_the_task_states_when_it_times_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The task list costs the api-server about 3x the run's state: it is read only when someone watches
    the task changes, and once for the timeout's message."""
    clock = FakeClock()
    monkeypatch.setattr(waiting_module, "time", clock)
    monkeypatch.setattr(client_module, "time", clock)
    StuckRunApi.gets = {"run": 0, "task instances": 0}
    server = LocalServer(StuckRunApi)
    try:
        client = AirflowClient(server.url, "admin", "admin", login=False)
        with pytest.raises(AirflowClientError, match=r"not finished after 1 s: audio_analysis=running"):
            client.wait_for_run("x", "r1", timeout=1.0, poll=0.1)
    finally:
        server.close()
    # a poll at once and one every 0.1 s of the second (the clock's floating-point sum may land one either side)
    assert 10 <= StuckRunApi.gets["run"] <= 12 and StuckRunApi.gets["task instances"] == 1, StuckRunApi.gets


def test_error_messages_name_the_request_and_the_fix() -> None:
    assert "check the user and password" in _explain(401, "log in", "u", "Invalid credentials", "admin").lower()
    assert "importErrors" in _explain(404, "get DAG 'x'", "u", "Dag with dag_id: 'x' not found", "admin")
    refused = _explain(422, "trigger DAG 'x'", "u", "body.conf: Input should be a valid dictionary", "admin")
    assert refused.startswith("Airflow refused the request to trigger DAG 'x' (422")
    assert str(TaskChange("t", -1, "success", "running", 1.25)).startswith("[   1.2 s] t")


# --- one real embedded stack (slow) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def probe_stack(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("probe")
    dags = root / "dags"
    dags.mkdir()
    (dags / "probe.py").write_text(PROBE_DAG)
    (dags / "broken.py").write_text(BROKEN_DAG)
    stack = LocalStack(StackConfig(state_dir=root / "state", dags_folder=dags, fixed_ports=False, with_services=False))
    with stack:
        yield stack


@pytest.fixture(scope="module")
def client(probe_stack: LocalStack) -> AirflowClient:
    client = AirflowClient(probe_stack.airflow_url, probe_stack.username, probe_stack.password)
    client.wait_for_dags(["e2e_probe"], timeout=120)
    return client


def live(test):
    """Needs the module's real stack: slow, and the first one pays the start-up (~1 min on 2 cores)."""
    return pytest.mark.slow(pytest.mark.timeout(600)(test))


@live
def test_login_and_refused_credentials(probe_stack: LocalStack, client: AirflowClient) -> None:
    assert client.api.configuration.access_token
    with pytest.raises(AirflowClientError, match="401") as refused:
        AirflowClient(probe_stack.airflow_url, probe_stack.username, "wrong")
    assert refused.value.status == 401
    stale = AirflowClient(probe_stack.airflow_url, probe_stack.username, probe_stack.password)
    stale.api.configuration.access_token = "not-a-jwt"
    with pytest.raises(AirflowClientError, match="refused the token"):
        stale.get_dag("e2e_probe")


@live
def test_import_errors_are_reported_while_waiting_and_unknown_dags_are_404(client: AirflowClient) -> None:
    reported = []
    with pytest.raises(AirflowClientError, match=r"not parsed after .*broken\.py"):
        client.wait_for_dags(["e2e_probe", "never_defined"], timeout=15, on_import_error=reported.append)
    assert [Path(e.filename).name for e in reported] == ["broken.py"]  # once, however many polls
    assert "broken on purpose" in reported[0].stack_trace
    with pytest.raises(AirflowClientError, match="not found") as missing:
        client.trigger("no_such_dag", {})
    assert missing.value.status == 404


@live
def test_conf_against_the_params_schema_is_refused_with_the_reason(client: AirflowClient) -> None:
    with pytest.raises(AirflowClientError, match="Invalid input for param n") as refused:
        client.trigger("e2e_probe", {"n": "three"})
    assert refused.value.status == 400


@live
def test_trigger_wait_xcom_and_task_log(client: AirflowClient) -> None:
    client.unpause("e2e_probe")
    started = time.monotonic()
    run = client.trigger("e2e_probe", {"n": 3})
    changes: list[TaskChange] = []
    final = client.wait_for_run("e2e_probe", run.dag_run_id, timeout=120, on_change=changes.append)
    seconds = time.monotonic() - started
    print(f"probe DAG trigger→success {seconds:.2f} s")

    assert final.state.value == "success"
    assert {(c.task_id, c.state) for c in changes} >= {("first", "success"), ("second", "success")}
    assert client.xcom("e2e_probe", run.dag_run_id, "second") == {"double": 6}
    assert "first task says hello" in client.task_log("e2e_probe", run.dag_run_id, "first")
    with pytest.raises(AirflowClientError, match="not found"):
        client.task_log("e2e_probe", run.dag_run_id, "no_such_task")


@live
def test_a_failed_run_reports_the_failing_task_with_its_log_tail(
    client: AirflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, summary, _ = run_dag(client, "e2e_probe", {"n": 1, "fail": True}, timeout=120)
    out = capsys.readouterr().out
    assert summary is None
    assert "✘ e2e_probe failed" in out
    assert "task second failed" in out and "ValueError: probe asked to fail" in out
    assert "probe asked to fail" in failure_report(client, "e2e_probe", run_id)


@live
def test_down_stops_every_process_and_closes_every_port(probe_stack: LocalStack, client: AirflowClient) -> None:
    pids = dict(json.loads(probe_stack.stack_file.read_text())["pids"])
    assert set(pids) == {"mail-sink", "api-server", "scheduler", "dag-processor", "triggerer"}
    probe_stack.down()
    assert groups_left(list(pids.values())) == []  # each leads its own group: workers, log servers
    assert port_closed(probe_stack.airflow_url)
    assert not probe_stack.stack_file.exists()
    with pytest.raises(AirflowClientError, match="cannot reach Airflow"):
        client.get_dag("e2e_probe")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
