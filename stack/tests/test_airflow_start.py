"""start_airflow's order: what runs tasks starts only once the api-server (the execution API) answers, and the
api-server counts as ready once its execution API has built its routes (its first request), which runs meanwhile.

A fake process group records each start and whether the api-server had answered by then; the health endpoint is
faked to answer once the api-server was started. No process is launched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import airflow_stack
from stack.airflow_stack import LOCAL_EXECUTOR, AirflowSettings, start_airflow
from stack.processes import ManagedProcess

HEALTHY = {key: {"status": "healthy"} for key in ("scheduler", "dag_processor", "triggerer")}


class RecordingGroup:
    def __init__(self) -> None:
        self.started: list[tuple[str, bool]] = []  # (name, had the api-server answered before its start)
        self.answered = False
        self.processes: dict[str, ManagedProcess] = {}

    def start(self, process: ManagedProcess) -> ManagedProcess:
        process.alive = lambda: True  # type: ignore[method-assign]
        self.processes[process.name] = process
        self.started.append((process.name, self.answered))
        return process


@pytest.mark.parametrize(
    ("executor", "after_the_api"),
    [
        ("CeleryExecutor", {"airflow-worker"}),  # the scheduler only queues: it starts at once, as in compose
        (LOCAL_EXECUTOR, {"airflow-worker", "scheduler"}),  # the scheduler runs the tasks itself
    ],
)
def test_what_runs_tasks_starts_after_the_api_server_answers(
    executor: str, after_the_api: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = RecordingGroup()

    def health(_url: str) -> dict | None:
        if "api-server" not in {name for name, _ in group.started}:
            return None  # connection refused
        group.answered = True
        return HEALTHY

    monkeypatch.setattr(airflow_stack, "health", health)
    monkeypatch.setattr(airflow_stack, "execution_api_built", lambda _url: group.answered)
    settings = AirflowSettings(home=tmp_path, api_port=1, executor=executor)
    worker = ManagedProcess("airflow-worker", ["true"], tmp_path / "airflow-worker.log")
    ready = start_airflow(
        group, settings, {}, tmp_path, extra=[(worker, lambda: True)], timeout=10, progress=lambda _line: None
    )

    assert {name for name, answered in group.started if answered} == after_the_api, group.started
    assert {name for name, _ in group.started} == {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "airflow-worker",
    }
    assert set(ready) == {name for name, _ in group.started}


def test_the_api_server_is_ready_once_its_execution_api_is_built_while_the_workers_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = RecordingGroup()
    asked: list[set[str]] = []  # what had started at each GET /execution/health

    def health(_url: str) -> dict | None:
        group.answered = "api-server" in {name for name, _ in group.started}
        return HEALTHY if group.answered else None

    def execution_api_built(_url: str) -> bool:
        asked.append({name for name, _ in group.started})
        return len(asked) >= 3  # its first request builds the routes: the first two polls time out

    monkeypatch.setattr(airflow_stack, "health", health)
    monkeypatch.setattr(airflow_stack, "execution_api_built", execution_api_built)
    settings = AirflowSettings(home=tmp_path, api_port=1, executor="CeleryExecutor")
    worker = ManagedProcess("airflow-worker", ["true"], tmp_path / "airflow-worker.log")
    ready = start_airflow(
        group, settings, {}, tmp_path, extra=[(worker, lambda: True)], timeout=10, progress=lambda _line: None
    )

    assert "api-server" in ready and len(asked) == 3, asked  # not ready before the execution API answered
    assert "airflow-worker" in asked[0], asked  # the worker did not wait for the build
    api_server = group.processes["api-server"]
    asked.clear()
    assert api_server.probe() is False  # a restart waits for the build too (Stack.restart / Stack.crash)
