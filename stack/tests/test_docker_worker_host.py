"""DockerWorkerHost without a Docker daemon: a start cut short still removes the project and the LAN network.

The Engine API (stack.docker_api.opened) and the compose commands are stood in for; what is checked is which of
them the worker host issues when its `up --wait` fails or is interrupted (CI's SIGINT, a Ctrl-C).
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from stack import docker_worker_host as module
from stack.compose_project import DockerStackError, ProjectCompose
from stack.docker_worker_host import SECRETS, DockerWorkerHost


class FakeNetwork:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def connect(self, name: str, aliases: list[str]) -> None:
        self.log.append(f"connect {name}")

    def disconnect(self, name: str, force: bool) -> None:
        self.log.append(f"disconnect {name}")

    def remove(self) -> None:
        self.log.append("network removed")


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    events: list[str] = []
    network = FakeNetwork(events)
    client = SimpleNamespace(networks=SimpleNamespace(create=lambda name, driver: network, get=lambda name: network))
    monkeypatch.setattr(module, "opened", lambda *args: contextlib.nullcontext(client))
    monkeypatch.setattr(ProjectCompose, "stop", lambda self, down=True, timeout=None: events.append(f"down={down}"))
    return events


def host(tmp_path: Path) -> DockerWorkerHost:
    main_compose = SimpleNamespace(get_containers=lambda: [SimpleNamespace(Service="redis", Name="hss-redis-1")])
    stack = SimpleNamespace(
        project_name="hss-e2e-test",
        state_dir=tmp_path,
        timeout=5.0,
        compose=main_compose,
        env_values=lambda: {key: "secret" for key in SECRETS},
        data_root=tmp_path / "data",
        dag_repo=SimpleNamespace(path=tmp_path / "dags"),
        airflow_uid=1000,
    )
    return DockerWorkerHost(stack)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "interruption",
    [KeyboardInterrupt(), subprocess.CalledProcessError(1, ["docker", "compose", "up"], stderr=b"boom")],
    ids=["interrupted", "failed"],
)
def test_a_start_cut_short_takes_the_project_down_and_removes_the_lan(
    tmp_path: Path, log: list[str], monkeypatch: pytest.MonkeyPatch, interruption: BaseException
) -> None:
    def start(self: ProjectCompose) -> None:
        log.append("up")
        raise interruption

    monkeypatch.setattr(ProjectCompose, "start", start)
    expected = KeyboardInterrupt if isinstance(interruption, KeyboardInterrupt) else DockerStackError
    with pytest.raises(expected):
        host(tmp_path).start()
    assert log == ["connect hss-redis-1", "up", "down=True", "disconnect hss-redis-1", "network removed"]


def test_a_start_that_comes_up_leaves_the_project_running(
    tmp_path: Path, log: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ProjectCompose, "start", lambda self: log.append("up"))
    started = host(tmp_path).start()
    assert log == ["connect hss-redis-1", "up"]
    started.stop()
    assert log[2:] == ["down=True", "disconnect hss-redis-1", "network removed"]
