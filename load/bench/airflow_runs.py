"""The full local stack the DAG benchmarks drive, and timed DAG runs through the REST API.

`BenchStack` is the stack tool's celery `LocalStack` — PostgreSQL, Redis, CeleryExecutor, a worker, Flower and
the five services as local processes, exactly what `make e2e` tests — started under
artifacts/bench/<time>/stack/ on free ports, with `AirflowClient` logged in. A `TimedRun` is a DAG run
with its trigger time and every task instance's scheduled/queued/start/end times, so each benchmark can
split a run's wall time into service work and Airflow's own steps.

Wall time of a run = the run's `end_date` (written by the scheduler) minus the moment just before the
trigger request left: server-side, so the poll interval does not inflate it.
"""

from __future__ import annotations

import itertools
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from airflow_client import client as af

from contracts.catalog import TRAINING, TRAINING_JOB
from load.bench.limits import seconds_between
from stack.base import Stack
from stack.client import AirflowClient, AirflowClientError
from stack.config import StackConfig
from stack.local_stack import LocalStack
from stack.log_follow import json_log_records
from stack.profiles import worker_process_name
from stack.service_metrics import service_seconds
from stack.waiting import WaitTimeout, wait_until

BENCH_DAGS = ("comprehensive_analysis", "batch_analysis", "ml_training_smart_ensemble")
MAX_POLL_S = 2.0
# paused: no background runs (a bench training's promotion would start rescore_library beside the timed runs)
QUIET_DAGS = ("dataset_triggered_training", "daily_model_training", "train_on_new_dataset", "rescore_library")


@dataclass(frozen=True)
class TaskTiming:
    task_id: str
    map_index: int
    state: str | None
    scheduled: datetime | None
    queued: datetime | None
    start: datetime | None
    end: datetime | None
    try_number: int = 1
    ti_id: str | None = None  # the workload id the worker's supervisor logs

    @classmethod
    def of(cls, ti: af.TaskInstanceResponse) -> TaskTiming:
        return cls(
            ti.task_id,
            ti.map_index,
            ti.state.value if ti.state is not None else None,
            ti.scheduled_when,
            ti.queued_when,
            ti.start_date,
            ti.end_date,
            ti.try_number,
            str(ti.id),
        )

    @property
    def duration(self) -> float | None:
        return seconds_between(self.start, self.end)

    @property
    def queued_to_start(self) -> float | None:
        return seconds_between(self.queued, self.start)


@dataclass
class TimedRun:
    dag_id: str
    run_id: str
    triggered_at: datetime
    state: str
    queued_at: datetime | None
    start: datetime | None
    end: datetime | None
    tasks: list[TaskTiming]

    @property
    def wall(self) -> float:
        """Trigger → the run's end (success or failure), in seconds."""
        end = self.end or datetime.now(UTC)
        return (end - self.triggered_at).total_seconds()

    def task(self, task_id: str, map_index: int = -1) -> TaskTiming | None:
        for t in self.tasks:
            if t.task_id == task_id and t.map_index == map_index:
                return t
        return None

    def mapped(self, task_id: str) -> list[TaskTiming]:
        return sorted((t for t in self.tasks if t.task_id == task_id and t.map_index >= 0), key=lambda t: t.map_index)


class RunFailed(RuntimeError):
    """A benchmarked DAG run did not succeed: the figures would be meaningless."""


class BenchStack:
    """A full stack (default: the celery LocalStack) + a logged-in AirflowClient; a context manager that always
    stops the stack. The docker section passes a DockerStack: the same runs, timed the same way."""

    def __init__(
        self, state_dir: Path, progress: Callable[[str], None], timeout: float = 300.0, stack: Stack | None = None
    ) -> None:
        self.progress = progress
        config = StackConfig(profile="celery", state_dir=state_dir, fixed_ports=False, timeout=timeout)
        self.stack = stack or LocalStack(config, progress=progress)
        self.client: AirflowClient | None = None

    def __enter__(self) -> BenchStack:
        self.stack.up()
        try:
            self.client = AirflowClient(self.stack.airflow_url, self.stack.username, self.stack.password)
            started = time.monotonic()
            self.client.wait_for_dags([*BENCH_DAGS, *QUIET_DAGS], timeout=180)
            self.progress(f"  DAGs parsed after {time.monotonic() - started:.1f} s")
            for dag_id in BENCH_DAGS:
                if self.client.get_dag(dag_id).is_paused:
                    self.client.unpause(dag_id)
            for dag_id in QUIET_DAGS:
                self.client.dags.patch_dag(dag_id, af.DAGPatchBody(is_paused=True), update_mask=["is_paused"])
            self.progress(f"  paused {', '.join(QUIET_DAGS)} (no background runs during the bench)")
        except BaseException:
            self.stack.down()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stack.down()

    @property
    def api(self) -> AirflowClient:
        assert self.client is not None, "the stack is not up"
        return self.client

    @property
    def data_root(self) -> Path:
        return self.stack.data_root

    # --- services -------------------------------------------------------------------------------
    def service_seconds(self) -> dict[str, float]:
        return service_seconds(self.stack.service_urls)

    def training_job(self, job_id: str) -> dict:
        """GET /train/jobs/{job_id} on workflow-ml-training (created_at, started_at, finished_at, …)."""
        url = self.stack.service_urls[TRAINING.name] + TRAINING_JOB.format_path(job_id=job_id)
        response = requests.get(url, headers={"X-API-Key": self.stack.api_key}, timeout=10)
        response.raise_for_status()
        return response.json()

    def task_startup_seconds(self, dag_id: str, run_ids: list[str]) -> float | None:
        """Median time from a task process's start to its DAG being loaded, read from the local task logs.

        That is the Task SDK starting in the forked task process ("::group::Pre Execute" → "DAG bundles
        loaded"): paid by every task before its operator runs. None when no log has both lines.
        """
        found = []
        for run_id in run_ids:
            for log in (self.stack.airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}").glob("**/*.log"):
                found += _startup(log)
        return statistics.median(found) if found else None

    def slot_held_seconds(self, runs: list[TimedRun]) -> list[float]:
        """Per task of `runs`: its end_date → its supervisor's "Workload finished" in the workers' logs.

        Until then the task keeps its Celery slot and one of the executor's AIRFLOW__CORE__PARALLELISM slots.
        """
        ends = {t.ti_id: t.end for run in runs for t in run.tasks if t.ti_id and t.end}
        finished: dict[str, datetime] = {}
        for index in itertools.count(1):  # airflow-worker, airflow-worker-2, … (none under LocalExecutor)
            try:
                finished.update(workloads_finished(self.stack.logs(worker_process_name(index))))
            except KeyError:
                break
        return [(finished[ti_id] - end).total_seconds() for ti_id, end in ends.items() if ti_id in finished]

    # --- pools ----------------------------------------------------------------------------------
    def pool_slots(self, name: str) -> int:
        try:
            return af.PoolApi(self.api.api).get_pool(name).slots
        except af.ApiException as exc:
            raise AirflowClientError(f"cannot read pool {name!r}: {exc.status} {exc.reason}", exc.status) from None

    # --- runs -----------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: dict) -> tuple[str, datetime]:
        triggered_at = datetime.now(UTC)
        run = self.api.trigger(dag_id, conf)
        return run.dag_run_id, triggered_at

    def collect(self, dag_id: str, run_id: str, triggered_at: datetime) -> TimedRun:
        run = self.api.get_run(dag_id, run_id)
        tasks = [TaskTiming.of(ti) for ti in self.api.task_instances(dag_id, run_id)]
        return TimedRun(
            dag_id, run_id, triggered_at, run.state.value, run.queued_at, run.start_date, run.end_date, tasks
        )

    def wait(self, dag_id: str, run_ids: list[str], timeout: float, poll: float = 0.5) -> None:
        """Poll the runs (state only) until all are finished.

        The interval grows with the wait (poll → 2 s: a twentieth of the time waited so far): a poll costs
        the api-server and this process CPU that the measured runs would otherwise have — 0.3 s polls took
        ≈3 CPU-s from a 76 s batch run — and the figures are server-side times, which polling does not delay.
        """
        pending = set(run_ids)

        def all_finished() -> bool:
            for run_id in list(pending):
                if self.api.get_run(dag_id, run_id).state.value in ("success", "failed"):
                    pending.discard(run_id)
            return not pending

        try:
            wait_until(all_finished, timeout, lambda waited: min(MAX_POLL_S, max(poll, waited / 20)), "runs finished")
        except WaitTimeout:
            raise AirflowClientError(f"{len(pending)} run(s) of {dag_id} not finished after {timeout:.0f} s") from None

    def run(self, dag_id: str, conf: dict, timeout: float = 900.0, poll: float = 0.3) -> TimedRun:
        """Trigger one run, wait for it, return its timings; RunFailed when it did not succeed."""
        run_id, triggered_at = self.trigger(dag_id, conf)
        self.wait(dag_id, [run_id], timeout, poll)
        timed = self.collect(dag_id, run_id, triggered_at)
        if timed.state != "success":
            failed = [t.task_id for t in timed.tasks if t.state == "failed"]
            raise RunFailed(
                f"{dag_id} run {run_id} ended {timed.state} (failed tasks: {', '.join(failed) or 'none'}); "
                f"task logs: GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/…/logs"
            )
        return timed

    def run_concurrently(self, dag_id: str, confs: list[dict], timeout: float = 1800.0) -> list[TimedRun]:
        """Trigger every conf at once (one run each), wait for all; RunFailed if any did not succeed."""
        started = [self.trigger(dag_id, conf) for conf in confs]
        self.wait(dag_id, [run_id for run_id, _ in started], timeout)
        runs = [self.collect(dag_id, run_id, at) for run_id, at in started]
        if bad := [r for r in runs if r.state != "success"]:
            raise RunFailed(f"{len(bad)} of {len(runs)} {dag_id} runs did not succeed (first: {bad[0].run_id})")
        return runs


def _startup(log: Path) -> list[float]:
    start = loaded = None
    for record in json_log_records(log):
        event = str(record.get("event", ""))
        if start is None and event == "::group::Pre Execute":
            start = record.get("timestamp")
        elif start is not None and event.startswith("DAG bundles loaded"):
            loaded = record.get("timestamp")
            break
    if not (start and loaded):
        return []
    return [(datetime.fromisoformat(loaded) - datetime.fromisoformat(start)).total_seconds()]  # 3.11 reads "Z"


# 2026-12-05T19:00:21.911930Z [info     ] Workload finished    [supervisor] duration=0.81 … workload_id=01a2…
WORKLOAD_FINISHED = re.compile(r"^(\S+Z) .*\bWorkload finished\b.*\bworkload_id=([0-9a-f-]+)", re.MULTILINE)


def workloads_finished(worker_log: str) -> dict[str, datetime]:
    """Task instance id → when its supervisor logged "Workload finished" (and gave its Celery slot back)."""
    return {ti_id: datetime.fromisoformat(stamp) for stamp, ti_id in WORKLOAD_FINISHED.findall(worker_log)}
