"""The analysis bench's execution-API figures: the api-server's access-log lines by kind in a time window, and the
server time of the critical path's tasks' own requests inside their start→end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from load.bench.airflow_runs import TaskTiming
from load.bench.execution_api import (
    api_server_log,
    execution_requests,
    parse_requests,
    request_figure,
    window_figure,
    window_seconds,
)

TI = "01a25098-54b8-7286-b751-f5962c83b9cb"
RUN = "manual__2026-12-07T13:01:30.139746+00:00"
XCOM = f"xcoms/comprehensive_analysis/{RUN}/content_analysis/return_value"


def line(at: str, us: int, method: str, path: str) -> str:
    return (
        f"2026-12-07T13:01:{at}Z [info     ] request finished               [http.access] "
        f"client_addr=127.0.0.1:52920 duration_us={us} loc=http_access_log.py:130 method={method} path={path} "
        "query= status_code=200"
    )


API_LOG = "\n".join(
    [
        line("31.000000", 99000, "PATCH", f"/execution/task-instances/{TI}/run"),  # before the window
        "2026-12-07T13:01:32.288061Z [info     ] Task started   [airflow.api_fastapi.execution_api] ti_id=…",
        line("32.304641", 36000, "PATCH", f"/execution/task-instances/{TI}/run"),
        line("32.330833", 12000, "PUT", f"/execution/task-instances/{TI}/heartbeat"),
        line("32.365668", 9000, "GET", f"/execution/{XCOM}"),
        line("32.378419", 7000, "GET", f"/execution/{XCOM}"),
        line("32.390000", 15000, "GET", "/api/v2/dags/comprehensive_analysis/dagRuns/x"),  # the REST API: not counted
        line("32.427067", 21000, "PUT", f"/execution/task-instances/{TI}/rtif"),
        line("32.457051", 18000, "POST", f"/execution/{XCOM}"),
        line("32.478833", 18000, "PATCH", f"/execution/task-instances/{TI}/state"),
        line("32.500000", 4000, "GET", "/execution/variables/hss_x"),
        line("39.000000", 77000, "GET", f"/execution/{XCOM}"),  # after the window
    ]
)
SINCE = datetime(2026, 12, 7, 13, 1, 32, tzinfo=UTC)
UNTIL = datetime(2026, 12, 7, 13, 1, 33, tzinfo=UTC)


def test_each_execution_request_in_the_window_is_read_by_kind_and_nothing_else() -> None:
    found = execution_requests(parse_requests(API_LOG), SINCE, UNTIL)
    assert found == {
        "start": [0.036],
        "heartbeat": [0.012],
        "XCom read": [0.009, 0.007],
        "rendered fields": [0.021],
        "XCom write": [0.018],
        "final state": [0.018],
        "other": [0.004],
    }


def test_the_figure_is_the_median_request_with_each_kind_per_task() -> None:
    figure = request_figure(
        "comprehensive_analysis", execution_requests(parse_requests(API_LOG), SINCE, UNTIL), tasks=1
    )
    assert figure is not None
    assert figure.value == pytest.approx(15.0)  # of 4, 7, 9, 12 | 18, 18, 21, 36 ms
    assert figure.target is None  # it explains the in-task overhead; it is not a target of its own
    assert "8.0 requests per task over 1 tasks" in figure.note
    assert "start 36.0 ms (1 per task)" in figure.note
    assert "XCom read 8.0 ms (2 per task)" in figure.note
    assert figure.note.index("start") < figure.note.index("XCom read") < figure.note.index("XCom write")


def test_no_request_or_no_log_gives_no_figure() -> None:
    assert request_figure("x", {}, tasks=5) is None
    assert request_figure("x", execution_requests(parse_requests(API_LOG), UNTIL, UNTIL), tasks=5) is None

    class NoLog:
        def logs(self, component: str) -> str:
            raise KeyError(component)

    assert api_server_log(NoLog()) is None  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return SINCE + timedelta(seconds=seconds)


def task(task_id: str, start: float, end: float, ti_id: str = TI) -> TaskTiming:
    return TaskTiming(task_id, -1, "success", None, None, at(start), at(end), 1, ti_id)


def test_a_tasks_own_requests_count_for_the_part_inside_its_start_to_end() -> None:
    # start_date 13:01:32.280: the 36 ms start request began at .268641, so 24.641 ms of it are inside;
    # end_date .470: the final state began at .460833, 9.167 ms inside. The rest lie inside whole.
    spent = window_seconds(parse_requests(API_LOG), RUN, [task("content_analysis", 0.280, 0.470)])
    assert spent == pytest.approx(
        {
            "start": 0.024641,
            "heartbeat": 0.012,
            "XCom read": 0.016,
            "rendered fields": 0.021,
            "XCom write": 0.018,
            "final state": 0.009167,
        }
    )  # not the REST API's request, the variable look-up (no task of its own) or those outside the window


def test_another_tasks_or_another_runs_requests_do_not_count() -> None:
    requests = parse_requests(API_LOG)
    other_ti = task("content_analysis", 0.0, 1.0, ti_id="01a25098-0000-0000-0000-000000000000")
    assert window_seconds(requests, RUN, [other_ti]) == pytest.approx({"XCom read": 0.016, "XCom write": 0.018})
    assert window_seconds(requests, "manual__another", [task("content_analysis", 0.0, 1.0)]) == pytest.approx(
        {"start": 0.036, "heartbeat": 0.012, "rendered fields": 0.021, "final state": 0.018}
    )
    assert window_seconds(requests, RUN, [task("hit_prediction", 0.0, 1.0, ti_id="x")]) == {"XCom read": 0.016}


def test_a_percent_encoded_run_id_is_read_as_the_run_id() -> None:
    encoded = line("32.365668", 9000, "GET", "/execution/" + XCOM.replace(":", "%3A").replace("+", "%2B"))
    assert window_seconds(parse_requests(encoded), RUN, [task("x", 0.0, 1.0, ti_id="y")]) == {"XCom read": 0.009}


def test_the_window_figure_is_the_median_per_run_and_its_share_of_the_in_task_overhead() -> None:
    runs = [{"start": 0.10, "XCom read": 0.05}, {"start": 0.12, "XCom read": 0.08}, {"start": 0.09}]
    figure = window_figure("comprehensive_analysis", runs, in_task=0.3)
    assert figure is not None and figure.target is None
    assert figure.value == pytest.approx(0.15)  # of 0.09, 0.15, 0.20
    assert figure.note.startswith("50% of the in-task overhead (0.300 s)")
    assert "start 0.100 s, XCom read 0.050 s" in figure.note
    assert window_figure("x", [], in_task=0.3) is None
    assert window_figure("x", [{}, {}], in_task=0.3) is None
