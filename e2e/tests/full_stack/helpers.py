"""Small steps the full-stack tests share: run a DAG to its end, read a result document, task states, mails."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import requests

from stack.base import Stack
from stack.client import AirflowClient
from stack.demo import failure_report
from stack.log_follow import json_log_records
from stack.mail import mail_text, read_mails
from stack.waiting import WaitTimeout, wait_until

RUN_TIMEOUT = 420.0


def run_to_end(client: AirflowClient, dag_id: str, conf: dict, *, expect: str = "success") -> str:
    """Trigger through /api/v2, wait for a terminal state, assert it; return the run id."""
    return await_run(client, dag_id, client.trigger(dag_id, conf).dag_run_id, expect=expect)


def await_run(client: AirflowClient, dag_id: str, run_id: str, *, expect: str = "success") -> str:
    """Wait for a run triggered earlier (e.g. ahead) to reach a terminal state, assert it; return the run id."""
    final = client.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)
    state = final.state.value
    assert state == expect, f"{dag_id} run {run_id} ended {state}:\n{failure_report(client, dag_id, run_id)}"
    return run_id


def task_states(client: AirflowClient, dag_id: str, run_id: str) -> dict[tuple[str, int], tuple[str | None, int]]:
    """(task_id, map_index) → (state, try_number)."""
    return {
        (ti.task_id, ti.map_index): (ti.state.value if ti.state else None, ti.try_number)
        for ti in client.task_instances(dag_id, run_id)
    }


def wait_for_task_state(
    client: AirflowClient, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 120.0
) -> str:
    def reached() -> str | None:
        found = [s for (tid, _), (s, _) in task_states(client, dag_id, run_id).items() if tid == task_id]
        return next((state for state in found if state in states), None)

    try:
        return wait_until(reached, timeout, 0.3, f"{task_id} in {states}")
    except WaitTimeout:
        raise AssertionError(f"{task_id} of {dag_id} run {run_id} never reached {states} in {timeout:.0f} s") from None


def result_document(data_root: Path, summary: dict) -> dict:
    """The document aggregate_results wrote (its XCom names the file, relative to the data root)."""
    path = data_root / summary["result_path"]
    assert path.is_file(), f"aggregate_results reported {summary['result_path']} but {path} does not exist"
    return json.loads(path.read_text())


def mails_containing(stack: Stack, needle: str) -> list[str]:
    """The texts (subject + body) of the stack's mails that contain `needle`, oldest first."""
    return [text for text in map(mail_text, read_mails(stack.mail_dir)) if needle in text]


def mails_about(stack: Stack, run_id: str) -> list[str]:
    """The stack's mails that name `run_id`, oldest first."""
    return mails_containing(stack, f"Run: {run_id}")


def wait_for_mails(stack: Stack, run_id: str, count: int, timeout: float = 60.0) -> list[str]:
    """Mails naming `run_id` once there are `count` of them (then 2 s more, so an extra one would show)."""
    if wait_until(lambda: len(mails_about(stack, run_id)) >= count, timeout, 0.25, "mails", raise_on_timeout=False):
        time.sleep(2)
        return mails_about(stack, run_id)
    raise AssertionError(
        f"{count} mail(s) about {run_id} expected within {timeout:.0f} s in {stack.mail_dir}, "
        f"got {len(mails_about(stack, run_id))}"
    )


def prometheus_url(stack: Stack) -> str:
    """Read once per test: on docker, stack.info() asks compose for the published ports."""
    return stack.info()["prometheus"]["url"]


def prometheus_query(url: str, promql: str) -> list[dict]:
    """GET /api/v1/query on Prometheus at `url`: the result vector ([{"metric": {...}, "value": [t, "v"]}])."""
    answer = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for_series(url: str, promql: str, timeout: float = 120.0) -> list[dict]:
    """The result of `promql` once it is not empty (scrape 10-15 s, recording rules every 15 s)."""
    try:
        return wait_until(lambda: prometheus_query(url, promql) or None, timeout, 1.0, promql)
    except WaitTimeout:
        raise AssertionError(f"Prometheus has no series for {promql} after {timeout:.0f} s") from None


def dag_file_parses(airflow_home: Path, dag_file: str, since: datetime) -> list[str]:
    """The times the dag-processor parsed `dag_file` from its bundle's current checkout since `since`: its per-file
    log under AIRFLOW_HOME/logs/dag_processor/<day>/<bundle>/. A callback parses a pinned version's checkout
    (`…/versions/<commit>/…`) and is not counted."""
    times = []
    logs = {log.resolve() for log in (airflow_home / "logs" / "dag_processor").glob(f"*/*/{dag_file}.log")}
    for log in sorted(logs):  # resolved: the `latest` folder is a link to the newest day's
        for entry in json_log_records(log):
            event = str(entry.get("event", ""))
            if not event.startswith("Filling up the DagBag") or "/versions/" in event:
                continue  # not a parse, or a callback's on a pinned version: no timestamp to read
            if datetime.fromisoformat(entry["timestamp"]) > since:
                times.append(entry["timestamp"])
    return times
