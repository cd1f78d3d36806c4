"""load.run without a stack: it tells a dead stack from a live one and starts one by name when needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from load import run
from load.profiles import get_profile


def test_a_missing_or_dead_stack_is_recognised() -> None:
    assert run.stack_problem(None) == "no stack file"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    info = {"pids": {"scheduler": dead.pid}, "airflow": {"url": "http://127.0.0.1:9"}}
    assert run.stack_problem(info) == "its processes are gone (scheduler)"
    assert "does not answer" in run.stack_problem({"airflow": {"url": "http://127.0.0.1:9"}})


def test_ensure_stack_starts_the_stack_by_name_when_it_is_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = []

    def fake_run(command, **kwargs):
        started.append(command)
        return subprocess.CompletedProcess(command, 1)  # as if the stack failed to come up

    monkeypatch.setattr(run.subprocess, "run", fake_run)
    with pytest.raises(run.LoadError, match="did not come up"):
        run.ensure_stack(tmp_path / "stack.json", echo=lambda _: None)
    assert started == [[sys.executable, "-m", "stack", "--state-dir", str(tmp_path), "up"]]


def test_a_load_run_says_where_to_watch_it_when_the_stack_has_prometheus() -> None:
    said: list[str] = []
    info = {"airflow": {"url": "http://127.0.0.1:8080"}, "prometheus": {"url": "http://127.0.0.1:9090"}}
    assert run.watched(info, said.append) is info
    assert said and "http://127.0.0.1:8080/hss/operations" in said[0] and "http://127.0.0.1:9090" in said[0]
    said.clear()
    run.watched({"airflow": {"url": "http://127.0.0.1:8080"}}, said.append)  # make demo: no metrics, no line
    assert said == []


def test_the_locust_command_is_what_a_user_would_type(tmp_path: Path) -> None:
    profile = get_profile("smoke")
    command = run.locust_command(profile, tmp_path)
    assert command[1:5] == ["-m", "locust", "-f", "load/locustfile.py"]
    assert ["-u", str(profile.users)] == command[command.index("-u") : command.index("-u") + 2]
    assert command[command.index("--csv") + 1] == str(tmp_path / "locust")
    assert command[-len(profile.user_classes) :] == list(profile.user_classes)
