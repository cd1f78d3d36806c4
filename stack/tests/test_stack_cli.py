"""`python -m stack` (make up / down / status) without starting a real stack.

The local `up` path is driven with tiny fake launchers in place of `serve`: one that writes stack.json
and waits for SIGTERM (up prints the access details, a second up says "already up", down stops it),
one that fails (up prints its log tail and exits 1), and a stubborn one that ignores SIGTERM and leaves
a process group behind (down kills both and says so). Every state folder is a tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack import __main__ as stack_cli
from stack import backend, docker_control, tables
from stack.commands import cmd_down, cmd_status
from stack.config import StackConfig
from stack.launcher import launch_detached, stop_launcher
from stack.paths import REPO_ROOT
from stack.stack_file import group_members, pid_alive
from stack.waiting import wait_until


def config(state: Path, env_file: Path | None = None) -> StackConfig:
    return StackConfig(profile="celery", state_dir=state, env_file=env_file or state / ".env")


def start_local(state: Path, env_file: Path, *, launcher_argv: list[str], timeout: float) -> int:
    return launch_detached(config(state, env_file), launcher_argv, timeout)


# argv[1] = state folder. Writes stack.json atomically, as LocalStack does, naming itself as launcher.
FAKE_SERVE = """\
import json, os, signal, subprocess, sys, time
from pathlib import Path
state, mode = Path(sys.argv[1]), sys.argv[2]
print("fake launcher: starting postgres, redis, airflow…", flush=True)
if mode == "fail":
    print("fake launcher: postgres: initdb: boom", flush=True)
    sys.exit(1)
pids = {"launcher-itself": os.getpid()}
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    pids["orphan"] = child.pid
else:
    def stop(*_):
        print("fake launcher: stopping", flush=True)
        (state / "stack.json").unlink(missing_ok=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
info = {
    "backend": "local", "executor": "CeleryExecutor",
    "airflow": {"url": "http://127.0.0.1:9", "username": "admin", "password": "s3cret"},
    "flower": {"url": "http://127.0.0.1:9", "username": "admin", "password": "fl0wer"},
    "services": {"workflow-audio": "http://127.0.0.1:9"},
    "api_key": "k", "data_root": str(state / "data"), "pids": pids, "launcher_pid": os.getpid(),
}
tmp = state / "stack.json.tmp"
tmp.write_text(json.dumps(info))
tmp.replace(state / "stack.json")
print("fake launcher: ready", flush=True)
while True:
    time.sleep(0.1)
"""


def fake_launcher(state: Path, mode: str) -> list[str]:
    return [sys.executable, "-c", FAKE_SERVE, str(state), mode]


def test_down_and_status_with_nothing_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stack_cli.main(["--state-dir", str(tmp_path), "down"]) == 0
    assert "nothing is up" in capsys.readouterr().out
    assert stack_cli.main(["--state-dir", str(tmp_path), "status"]) == 0
    assert "nothing is up" in capsys.readouterr().out


def test_the_module_runs_as_make_calls_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stack", "--state-dir", str(tmp_path), "status"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing is up (no stack.json); make up starts the stack." in result.stdout


def test_up_waits_for_the_launcher_prints_access_and_down_stops_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, env_file = tmp_path / "state", tmp_path / ".env"
    state.mkdir()
    assert start_local(state, env_file, launcher_argv=fake_launcher(state, "ok"), timeout=20) == 0
    out = capsys.readouterr().out
    assert "fake launcher: starting postgres, redis, airflow…" in out  # the launcher's progress, echoed
    assert "Airflow UI   http://127.0.0.1:9   login admin / s3cret" in out
    assert "Flower       http://127.0.0.1:9   login admin / fl0wer" in out
    assert "workflow-audio" in out and f"HSS_API_KEY in {env_file}" in out and "make down stops it" in out
    launcher = json.loads((state / "stack.json").read_text())["launcher_pid"]
    assert pid_alive(launcher)

    # a second `up` finds it running and starts nothing
    assert start_local(state, env_file, launcher_argv=fake_launcher(state, "fail"), timeout=20) == 0
    assert "already up" in capsys.readouterr().out

    assert cmd_status(config(state)) == 0
    status = capsys.readouterr().out
    assert "does not answer" in status and "processes    2 of 2 alive; gone: none" in status

    assert cmd_down(config(state)) == 0
    out = capsys.readouterr().out
    assert "SIGTERM to launcher" in out and "fake launcher: stopping" in out and "stack stopped" in out
    assert not pid_alive(launcher)
    assert not (state / "stack.json").exists()


def test_a_launcher_that_fails_makes_up_exit_1_with_its_log_tail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    assert start_local(state, tmp_path / ".env", launcher_argv=fake_launcher(state, "fail"), timeout=20) == 1
    out = capsys.readouterr().out
    assert "the launcher exited with code 1" in out
    tail = out.split("last lines of", 1)[1]
    assert "fake launcher: postgres: initdb: boom" in tail
    assert "run make up again" in out
    assert not (state / "stack.json").exists()


def test_down_kills_a_launcher_that_ignores_sigterm_and_leftover_process_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    assert start_local(state, tmp_path / ".env", launcher_argv=fake_launcher(state, "stubborn"), timeout=20) == 0
    info = json.loads((state / "stack.json").read_text())
    orphan = info["pids"]["orphan"]
    assert group_members(orphan) == [orphan]
    capsys.readouterr()

    assert stop_launcher(state, info, timeout=1.0) == 0
    out = capsys.readouterr().out
    assert f"launcher {info['launcher_pid']} did not stop within 1 s: killing it (SIGKILL)" in out
    assert f"orphan (group {orphan})" in out
    gone = lambda: not pid_alive(orphan) and not pid_alive(info["launcher_pid"])  # noqa: E731
    wait_until(gone, 5, 0.1, "the launcher and the orphan gone", raise_on_timeout=False)
    assert not pid_alive(orphan) and not pid_alive(info["launcher_pid"])
    assert not (state / "stack.json").exists()


def test_down_removes_a_stale_stack_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "stack.json").write_text(json.dumps({"backend": "local", "pids": {"x": dead.pid}}))
    assert cmd_down(config(tmp_path)) == 0
    assert "stale stack.json" in capsys.readouterr().out
    assert not (tmp_path / "stack.json").exists()


def test_up_refuses_an_unknown_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("E2E_BACKEND", "kubernetes")
    env_file = tmp_path / ".env"
    assert stack_cli.main(["--state-dir", str(tmp_path / "state"), "--env-file", str(env_file), "up"]) == 2
    out = capsys.readouterr().out
    assert f"wrote {env_file} from .env.example with fresh secrets (mode 0600)" in out
    assert "allowed values: auto, docker, local" in out
    assert os.stat(env_file).st_mode & 0o777 == 0o600


def test_status_of_a_docker_stack_lists_each_container_and_names_the_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class FakeDockerStack(docker_control.DockerControl):
        def container_states(self) -> list[tuple[str, str, str]]:
            return [
                ("hss-workflow-airflow-init-1", "exited", "done"),  # the one-shot that finished
                ("hss-workflow-airflow-worker-1", "running", "healthy"),
                ("hss-workflow-airflow-worker-2", "running", "unhealthy"),
                ("hss-workflow-flower-1", "exited", "-"),
            ]

        def container_restarts(self) -> dict[str, int]:
            return {"hss-workflow-airflow-worker-2": 3}

    seen: dict = {}

    def fake_docker_stack(config: StackConfig, progress: object = None) -> FakeDockerStack:
        seen.update(env_file=config.env_file, workers=config.workers)
        return FakeDockerStack()

    monkeypatch.setattr(backend, "DockerStack", fake_docker_stack)
    info = {
        "backend": "docker",
        "executor": "CeleryExecutor",
        "workers": 2,
        "airflow": {"url": "http://127.0.0.1:9", "username": "admin", "password": "pw"},
        "services": {},
        "data_root": str(tmp_path / "data"),
        "compose": {"env_file": str(tmp_path / ".env")},
    }
    (tmp_path / "stack.json").write_text(json.dumps(info))
    assert cmd_status(config(tmp_path)) == 0
    out = capsys.readouterr().out
    assert seen == {"env_file": tmp_path / ".env", "workers": 2}
    assert "containers   2 of 4 healthy or done (workers: 2)" in out
    assert "hss-workflow-airflow-worker-2" in out and "unhealthy" in out
    assert "hss-workflow-airflow-worker-2                running    unhealthy  3" in out  # its restarts
    assert "not healthy: hss-workflow-airflow-worker-2, hss-workflow-flower-1" in out
    assert f"data root    {tmp_path / 'data'}" in out


def test_status_shows_the_supervisors_restarts_and_fails_on_a_crash_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = {
        "backend": "local",
        "airflow": {"url": "http://127.0.0.1:9", "username": "admin", "password": "pw"},
        "pids": {},
        "supervision": {
            "scheduler": {"restarts": 1, "state": "running", "crash_loop": False},
            "triggerer": {"restarts": 6, "state": "crash loop: exited (1), restart in 30 s", "crash_loop": True},
        },
    }
    (tmp_path / "stack.json").write_text(json.dumps(info))
    assert cmd_status(config(tmp_path)) == 1  # a crash loop is not a healthy stack
    out = capsys.readouterr().out
    assert "    scheduler                     1  running" in out
    assert "    triggerer                     6  crash loop: exited (1), restart in 30 s" in out
    assert "crash loop: triggerer keep dying" in out

    info["supervision"]["triggerer"] = {"restarts": 6, "state": "running", "crash_loop": False}
    (tmp_path / "stack.json").write_text(json.dumps(info))
    assert cmd_status(config(tmp_path)) == 0


def test_up_refuses_fewer_than_one_worker(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        stack_cli.main(["--state-dir", str(tmp_path), "--workers", "0", "up"])
    assert refused.value.code == 2


class _FakeAirflow:
    """What dags_status reads of the REST API: the DAGs and the import errors."""

    dags: list = []
    errors: list = []

    def __init__(self, *_: object, **__: object) -> None:
        pass

    def list_dags(self) -> list:
        return self.dags

    def import_errors(self) -> list:
        return self.errors


def test_status_lists_dag_import_errors_and_fails_on_them_or_on_no_dag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from types import SimpleNamespace

    monkeypatch.setattr(tables, "AirflowClient", _FakeAirflow)
    airflow = {"url": "http://127.0.0.1:9", "username": "admin", "password": "pw"}
    broken = SimpleNamespace(filename="dags/broken.py", stack_trace="Traceback …\nNameError: name 'x' is not defined\n")
    monkeypatch.setattr(_FakeAirflow, "dags", [object()] * 7)
    monkeypatch.setattr(_FakeAirflow, "errors", [broken])
    assert tables.dags_status(airflow) == 1
    out = capsys.readouterr().out
    assert "DAGs loaded  7; import errors: 1" in out
    assert "dags/broken.py: NameError: name 'x' is not defined" in out

    monkeypatch.setattr(_FakeAirflow, "errors", [])
    assert tables.dags_status(airflow) == 0
    monkeypatch.setattr(_FakeAirflow, "dags", [])
    assert tables.dags_status(airflow) == 1
    assert "no DAG is loaded" in capsys.readouterr().out
