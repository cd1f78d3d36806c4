"""stack/docker_api.py without a daemon: a fake Engine client stands in for the docker SDK's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from stack import docker_api
from stack.docker_api import NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL, save_project_logs


class FakeContainer:
    def __init__(self, name: str, service: str, number: str, log: bytes | Exception) -> None:
        self.name, self._log = name, log
        self.labels = {PROJECT_LABEL: "hss-e2e-1", SERVICE_LABEL: service, NUMBER_LABEL: number}

    def logs(self, stdout: bool, stderr: bool) -> bytes:
        assert stdout and stderr  # both streams, interleaved as written
        if isinstance(self._log, Exception):
            raise self._log
        return self._log


class FakeContainers:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers, self.filters = containers, []

    def list(self, all: bool, filters: dict) -> list[FakeContainer]:  # `all`: the SDK's own argument name
        assert all  # stopped containers too: airflow-init has exited, a crashed one may not have restarted
        self.filters.append(filters)
        return self.containers


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeContainers:
    containers = FakeContainers(
        [
            FakeContainer("p-airflow-init-1", "airflow-init", "1", b"migrated\n"),
            FakeContainer("p-airflow-worker-1", "airflow-worker", "1", b"worker one\n"),
            FakeContainer("p-airflow-worker-2", "airflow-worker", "2", b"worker two \xff\n"),
            FakeContainer("p-flower-1", "flower", "1", docker.errors.NotFound("gone meanwhile")),
        ]
    )

    @contextlib.contextmanager
    def opened(timeout: float = 30.0) -> Iterator[object]:
        yield type("Client", (), {"containers": containers})()

    monkeypatch.setattr(docker_api, "opened", opened)
    return containers


def test_every_container_of_the_project_gets_its_log_replicas_numbered_as_on_the_local_stack(
    engine: FakeContainers, tmp_path: Path
) -> None:
    written = save_project_logs("hss-e2e-1", tmp_path / "logs")
    assert engine.filters == [{"label": f"{PROJECT_LABEL}=hss-e2e-1"}]
    assert sorted(path.name for path in written) == [
        "airflow-init.log",
        "airflow-worker-2.log",
        "airflow-worker.log",
        "flower.log",
    ]
    logs = tmp_path / "logs"
    assert (logs / "airflow-worker.log").read_text() == "worker one\n"
    assert (logs / "airflow-worker-2.log").read_text() == "worker two \ufffd\n"  # bad bytes do not stop the save
    assert "could not read the log" in (logs / "flower.log").read_text()
