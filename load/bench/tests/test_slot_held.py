"""The analysis bench's "task slot held after the task ended": the supervisors' "Workload finished" lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from load.bench.airflow_runs import workloads_finished
from load.bench.dags import slot_held_figure

WORKER_LOG = """\
[2026-12-05 19:00:20,001: INFO/MainProcess] Connected to redis://127.0.0.1:6379/0
2026-12-05T19:00:21.911930Z [info     ] Workload finished              [supervisor] duration=0.81 exit_code=0 \
final_state=success loc=supervisor.py:2658 workload_id=01a24794-24da-768a-a0d6-d60e018b10fa workload_type=ExecuteTask
2026-12-05T19:00:21.959226Z [info     ] [b23e4d2a] Executing workload in Celery: dag_rel_path=… workload_id=ffff
2026-12-05T19:00:27.096297Z [info     ] Workload finished              [supervisor] duration=5.14 exit_code=0 \
final_state=success loc=supervisor.py:2658 workload_id=01a24794-24dc-76bf-9f60-c84d6362cd20 workload_type=ExecuteTask
"""


def test_each_finished_workload_is_read_with_its_time_and_nothing_else() -> None:
    found = workloads_finished(WORKER_LOG)
    assert found == {
        "01a24794-24da-768a-a0d6-d60e018b10fa": datetime(2026, 12, 5, 19, 0, 21, 911930, tzinfo=UTC),
        "01a24794-24dc-76bf-9f60-c84d6362cd20": datetime(2026, 12, 5, 19, 0, 27, 96297, tzinfo=UTC),
    }


def test_a_slot_held_past_the_supervisors_interval_misses_the_target() -> None:
    end = datetime(2026, 12, 5, 19, 0, 21, 900000, tzinfo=UTC)  # both tasks ended then: one slot back at once
    finished = workloads_finished(WORKER_LOG)
    held = [(at - end).total_seconds() for at in finished.values()] + [0.01, 0.02]
    figure = slot_held_figure("comprehensive_analysis", held)
    assert figure.value == pytest.approx(5.196297)
    assert "1 over 0.1 s" in figure.note
    assert figure.passed is False
    waited_a_second = slot_held_figure("comprehensive_analysis", [0.01, 0.02, timedelta(seconds=1.02).total_seconds()])
    assert waited_a_second.passed is False  # a supervisor that slept to its next look: not woken by the exit
    woken = slot_held_figure("comprehensive_analysis", [0.01, 0.05, timedelta(seconds=0.09).total_seconds()])
    assert woken.passed is True
