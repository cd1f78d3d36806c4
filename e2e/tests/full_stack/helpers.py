"""Small steps the full-stack tests share: run a DAG to its end, read a result document, task states."""

from __future__ import annotations

import json
import time
from pathlib import Path

from e2e.client import AirflowClient
from e2e.demo import failure_report

RUN_TIMEOUT = 420.0


def run_to_end(client: AirflowClient, dag_id: str, conf: dict, *, expect: str = "success") -> str:
    """Trigger through /api/v2, wait for a terminal state, assert it; return the run id."""
    run = client.trigger(dag_id, conf)
    final = client.wait_for_run(dag_id, run.dag_run_id, timeout=RUN_TIMEOUT)
    state = final.state.value
    assert state == expect, (
        f"{dag_id} run {run.dag_run_id} ended {state}:\n{failure_report(client, dag_id, run.dag_run_id)}"
    )
    return run.dag_run_id


def task_states(client: AirflowClient, dag_id: str, run_id: str) -> dict[tuple[str, int], tuple[str | None, int]]:
    """(task_id, map_index) → (state, try_number)."""
    return {
        (ti.task_id, ti.map_index): (ti.state.value if ti.state else None, ti.try_number)
        for ti in client.task_instances(dag_id, run_id)
    }


def wait_for_task_state(
    client: AirflowClient, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 120.0
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for (tid, _), (state, _) in task_states(client, dag_id, run_id).items():
            if tid == task_id and state in states:
                return state
        time.sleep(0.3)
    raise AssertionError(f"{task_id} of {dag_id} run {run_id} never reached {states} in {timeout:.0f} s")


def result_document(data_root: Path, summary: dict) -> dict:
    """The document aggregate_results wrote (its XCom names the file, relative to the data root)."""
    path = data_root / summary["result_path"]
    assert path.is_file(), f"aggregate_results reported {summary['result_path']} but {path} does not exist"
    return json.loads(path.read_text())
