"""Airflow REST API v2 client on the official `apache-airflow-client`: the stack tool (make status, make dags-*,
make demo), the e2e tests and the load benchmarks all use this one.

    client = AirflowClient("http://127.0.0.1:8080", "admin", "admin")   # logs in: POST /auth/token
    run = client.trigger("comprehensive_analysis", {"song_id": "x", "song_path": "songs/x.wav"})
    final = client.wait_for_run("comprehensive_analysis", run.dag_run_id, on_change=print)
    client.xcom("comprehensive_analysis", run.dag_run_id, "aggregate_results")

Every failure is an `AirflowClientError` whose message says what was asked, what Airflow answered
(401 login, 403 token, 404 unknown DAG/run/task, 400/422 refused conf or body, no answer) and what to check.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
import urllib3
from airflow_client import client as af

from stack.client_errors import AirflowClientError, _detail, _explain
from stack.client_results import RunResults
from stack.waiting import WaitTimeout, wait_until

TERMINAL_RUN_STATES = {"success", "failed"}


@dataclass(frozen=True)
class TaskChange:
    """One task instance moved to another state (state None = not scheduled yet)."""

    task_id: str
    map_index: int
    state: str | None
    previous: str | None
    elapsed: float  # seconds since wait_for_run began

    def __str__(self) -> str:
        label = self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"
        return f"[{self.elapsed:6.1f} s] {label:<28} {self.previous or '-'} → {self.state or '-'}"


def _start_order(ti: af.TaskInstanceResponse) -> tuple:
    """Started tasks first, by start time; then the rest by id (stable output for parallel tasks)."""
    return (ti.start_date is None, ti.start_date.timestamp() if ti.start_date else 0.0, ti.task_id, ti.map_index)


class AirflowClient(RunResults):
    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30.0, login: bool = True):
        self.base_url = base_url.rstrip("/")
        self.username, self.password = username, password
        self.timeout = timeout
        config = af.Configuration(host=self.base_url, retries=False)
        self.api = af.ApiClient(config)
        self.dags = af.DAGApi(self.api)
        self.runs = af.DagRunApi(self.api)
        self.tis = af.TaskInstanceApi(self.api)
        self.xcoms = af.XComApi(self.api)
        self.import_errors_api = af.ImportErrorApi(self.api)
        self.assets = af.AssetApi(self.api)
        self.versions = af.DagVersionApi(self.api)
        self.parsing = af.DAGParsingApi(self.api)
        if login:
            self.login()

    def rebase(self, base_url: str) -> None:
        """Talk to the api-server at a new address (a restarted container may publish a new host port)."""
        self.base_url = base_url.rstrip("/")
        self.api.configuration.host = self.base_url

    # --- errors ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _call(self, what: str) -> Iterator[None]:
        try:
            yield
        except af.ApiException as exc:
            msg = _explain(exc.status, what, self.base_url, _detail(exc.body) or str(exc.reason), self.username)
            raise AirflowClientError(msg, exc.status) from None
        except (urllib3.exceptions.HTTPError, requests.ConnectionError, requests.Timeout) as exc:
            raise AirflowClientError(
                f"cannot reach Airflow at {self.base_url} to {what} ({type(exc).__name__}). "
                f"Is the api-server running? (`make demo` starts one; see its logs/api-server.log)"
            ) from None

    # --- auth ------------------------------------------------------------------------------------
    def login(self) -> str:
        """POST /auth/token (SimpleAuthManager): 201 with a JWT, then sent as a Bearer token."""
        with self._call("log in"):
            response = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=self.timeout,
            )
        if response.status_code not in (200, 201):
            msg = _explain(response.status_code, "log in", self.base_url, _detail(response.text), self.username)
            raise AirflowClientError(msg, response.status_code)
        token = response.json()["access_token"]
        self.api.configuration.access_token = token
        return token

    # --- DAGs ------------------------------------------------------------------------------------
    def get_dag(self, dag_id: str) -> af.DAGResponse:
        with self._call(f"get DAG {dag_id!r}"):
            return self.dags.get_dag(dag_id, _request_timeout=self.timeout)

    def dag_details(self, dag_id: str) -> af.DAGDetailsResponse:
        """The DAG with its params (name → {"value", "schema", "description"}), doc_md, bundle version…"""
        with self._call(f"get the details of DAG {dag_id!r}"):
            return self.dags.get_dag_details(dag_id, _request_timeout=self.timeout)

    def list_dags(self, *, include_stale: bool = False) -> list[af.DAGResponse]:
        """The DAGs in service; with include_stale, also those whose file last failed to parse or went away."""
        with self._call("list DAGs"):
            return self.dags.get_dags(limit=100, exclude_stale=not include_stale, _request_timeout=self.timeout).dags

    def dag_versions(self, dag_id: str) -> list[af.DagVersionResponse]:
        """GET /api/v2/dags/{dag_id}/dagVersions, oldest first (version_number 1, 2, …)."""
        with self._call(f"list the versions of DAG {dag_id!r}"):
            page = self.versions.get_dag_versions(
                dag_id, limit=100, order_by=["version_number"], _request_timeout=self.timeout
            )
        return page.dag_versions

    def request_parse(self, dag_id: str) -> None:
        """PUT /api/v2/parseDagFile/{file_token}: the dag-processor refreshes the DAG's bundle and parses its file
        next, instead of at its next min_file_process_interval."""
        token = self.dag_details(dag_id).file_token
        with self._call(f"request a parse of DAG {dag_id!r}'s file"):
            self.parsing.reparse_dag_file(token, _request_timeout=self.timeout)

    def dag_doc(self, dag_id: str) -> str:
        """The doc_md the api-server serves for the DAG's latest version."""
        with self._call(f"get the details of DAG {dag_id!r}"):
            return self.dags.get_dag_details(dag_id, _request_timeout=self.timeout).doc_md or ""

    def clear_run(self, dag_id: str, run_id: str, *, on_latest_version: bool = False) -> None:
        """Rerun a whole run. By default on the DAG version it ran on, as Airflow 3's clear does."""
        body = af.DAGRunClearBody(dry_run=False, run_on_latest_version=on_latest_version)
        with self._call(f"clear run {run_id!r} of DAG {dag_id!r}"):
            self.runs.clear_dag_run(dag_id, run_id, body, _request_timeout=self.timeout)

    def clear_tasks(self, dag_id: str, run_id: str, task_ids: list[str], *, downstream: bool = True) -> list[str]:
        """Clear these tasks of a run (succeeded ones too) and, by default, what depends on them; Airflow runs them
        again. Returns the task ids it cleared."""
        body = af.ClearTaskInstancesBody(
            dag_run_id=run_id,
            dry_run=False,
            task_ids=[af.ClearTaskInstancesBodyTaskIdsInner(task_id) for task_id in task_ids],
            include_downstream=downstream,
            only_failed=False,
            reset_dag_runs=True,
        )
        with self._call(f"clear {', '.join(task_ids)} of run {run_id!r} of DAG {dag_id!r}"):
            cleared = self.tis.post_clear_task_instances(dag_id, body, _request_timeout=self.timeout)
        return [ti.task_id for ti in cleared.task_instances]

    def import_errors(self) -> list[af.ImportErrorResponse]:
        with self._call("list import errors"):
            return self.import_errors_api.get_import_errors(limit=100, _request_timeout=self.timeout).import_errors

    def wait_for_dags(
        self,
        dag_ids: Iterable[str],
        *,
        timeout: float = 120.0,
        on_import_error: Callable[[af.ImportErrorResponse], None] | None = None,
        poll: float = 1.0,
    ) -> dict[str, af.DAGResponse]:
        """Poll until every DAG is parsed; report each new import error once while waiting."""
        wanted, found, seen = list(dag_ids), {}, set()
        errors: list[af.ImportErrorResponse] = []

        def all_parsed() -> bool:
            nonlocal errors
            for dag_id in wanted:
                if dag_id in found:
                    continue
                try:
                    found[dag_id] = self.get_dag(dag_id)
                except AirflowClientError as exc:
                    if exc.status != 404:
                        raise
            if len(found) == len(wanted):
                return True
            errors = self.import_errors()
            for error in errors:
                key = (error.filename, error.stack_trace)  # re-parsing renews the timestamp, not the error
                if key not in seen and on_import_error:
                    on_import_error(error)
                seen.add(key)
            return False

        try:
            wait_until(all_parsed, timeout, poll, "DAGs parsed")
        except WaitTimeout:
            missing = [d for d in wanted if d not in found]
            files = ", ".join(e.filename for e in errors) or "none"
            raise AirflowClientError(
                f"DAGs not parsed after {timeout:.0f} s: {missing} (import errors: {files})"
            ) from None
        return found

    def unpause(self, dag_id: str) -> af.DAGResponse:
        with self._call(f"unpause DAG {dag_id!r}"):
            return self.dags.patch_dag(
                dag_id, af.DAGPatchBody(is_paused=False), update_mask=["is_paused"], _request_timeout=self.timeout
            )

    # --- runs ------------------------------------------------------------------------------------
    def trigger(
        self, dag_id: str, conf: dict | None = None, run_id: str | None = None, *, grace: float = 30.0
    ) -> af.DAGRunResponse:
        """POST /api/v2/dags/{dag_id}/dagRuns with {"logical_date": null, "conf": …} (a manual run).

        The run id is chosen here, so a retry cannot start a second run: a 5xx (SQLite refusing a
        write while the scheduler commits, an api-server restarting) is retried for up to `grace`
        seconds, and a 409 after a retry means the earlier attempt did create the run.
        """
        run_id = run_id or f"manual__{datetime.now(UTC).isoformat()}"
        body = af.TriggerDAGRunPostBody(conf=conf or {}, dag_run_id=run_id, logical_date=None)
        failures: list[AirflowClientError] = []

        def attempt() -> af.DAGRunResponse | None:
            try:
                with self._call(f"trigger DAG {dag_id!r}"):
                    return self.runs.trigger_dag_run(dag_id, body, _request_timeout=self.timeout)
            except AirflowClientError as exc:
                if exc.status == 409 and failures:
                    return self.get_run(dag_id, run_id)
                if exc.status is None or exc.status < 500:
                    raise
                failures.append(exc)
                return None

        try:
            return wait_until(attempt, grace, 1.0, f"trigger DAG {dag_id!r}")
        except WaitTimeout:
            raise failures[-1] from None

    def trigger_raw(self, dag_id: str, conf: object, run_id: str, logical_date: str | None = None) -> dict:
        """POST a run with any JSON as `conf` (the generated client only sends objects): for fuzzing, and a
        past `logical_date` as a user's script sends it. One attempt, no retry; a non-2xx raises
        AirflowClientError with the status."""
        url, what = f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns", f"trigger DAG {dag_id!r}"
        headers = {"Authorization": f"Bearer {self.api.configuration.access_token}"}
        body = {"conf": conf, "dag_run_id": run_id, "logical_date": logical_date}
        with self._call(what):
            response = requests.post(url, json=body, headers=headers, timeout=self.timeout)
        if not response.ok:
            detail = _detail(response.text)
            raise AirflowClientError(
                _explain(response.status_code, what, self.base_url, detail, self.username), response.status_code
            )
        return response.json()

    def get_run(self, dag_id: str, run_id: str) -> af.DAGRunResponse:
        with self._call(f"get run {run_id!r} of DAG {dag_id!r}"):
            return self.runs.get_dag_run(dag_id, run_id, _request_timeout=self.timeout)

    def list_runs(self, dag_id: str, limit: int = 100) -> list[af.DAGRunResponse]:
        """The DAG's newest runs first (scheduled, continuous and manual alike)."""
        with self._call(f"list runs of DAG {dag_id!r}"):
            page = self.runs.get_dag_runs(dag_id, limit=limit, order_by=["-run_after"], _request_timeout=self.timeout)
        return page.dag_runs

    def task_instances(self, dag_id: str, run_id: str) -> list[af.TaskInstanceResponse]:
        found: list[af.TaskInstanceResponse] = []
        with self._call(f"list task instances of run {run_id!r} of DAG {dag_id!r}"):
            while True:
                page = self.tis.get_task_instances(
                    dag_id, run_id, limit=100, offset=len(found), _request_timeout=self.timeout
                )
                found.extend(page.task_instances)
                if not page.task_instances or len(found) >= page.total_entries:
                    return found

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float = 600.0,
        on_change: Callable[[TaskChange], None] | None = None,
        poll: float = 0.5,
        grace: float = 60.0,
    ) -> af.DAGRunResponse:
        """Poll the run until success or failed, calling `on_change` once per task-state change.

        A busy api-server (timeouts, 5xx such as a locked SQLite DB) is polled again for up to
        `grace` seconds; a 4xx is an answer and ends the wait at once.
        """
        started = last_answer = time.monotonic()
        states: dict[tuple[str, int], str | None] = {}

        def note_states(tis: list[af.TaskInstanceResponse]) -> None:
            for ti in sorted(tis, key=_start_order):
                key = (ti.task_id, ti.map_index)
                state = ti.state.value if ti.state is not None else None
                if key not in states or states[key] != state:
                    if on_change and (key in states or state is not None):
                        change = TaskChange(
                            ti.task_id, ti.map_index, state, states.get(key), time.monotonic() - started
                        )
                        on_change(change)
                    states[key] = state

        def finished() -> af.DAGRunResponse | None:
            nonlocal last_answer
            try:
                run = self.get_run(dag_id, run_id)
                if on_change:  # the task list costs the api-server 3x the run's state: only when watched
                    note_states(self.task_instances(dag_id, run_id))
                last_answer = time.monotonic()
            except AirflowClientError as exc:
                if (exc.status is not None and exc.status < 500) or time.monotonic() - last_answer > grace:
                    raise
                return None
            return run if run.state.value in TERMINAL_RUN_STATES else None

        try:
            return wait_until(finished, timeout, poll, f"run {run_id!r} finished")
        except WaitTimeout:
            if not on_change:
                with contextlib.suppress(AirflowClientError):  # the message says where the run stands
                    note_states(self.task_instances(dag_id, run_id))
            summary = ", ".join(f"{task}={state}" for (task, _), state in states.items())
            raise AirflowClientError(
                f"run {run_id!r} of {dag_id!r} not finished after {timeout:.0f} s: {summary}"
            ) from None
