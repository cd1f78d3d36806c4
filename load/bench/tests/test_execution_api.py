"""The analysis bench's "execution-API request" figure: the api-server's access-log lines, by kind, in a window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from load.bench.execution_api import execution_requests, measured_figure, request_figure

TI = "01a25098-54b8-7286-b751-f5962c83b9cb"
XCOM = "xcoms/comprehensive_analysis/manual__2026-12-07T13:01:30.139746+00:00/content_analysis/return_value"


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
    found = execution_requests(API_LOG, SINCE, UNTIL)
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
    figure = request_figure("comprehensive_analysis", execution_requests(API_LOG, SINCE, UNTIL), tasks=1)
    assert figure is not None
    assert figure.value == pytest.approx(15.0)  # of 4, 7, 9, 12 | 18, 18, 21, 36 ms
    assert figure.target is None  # it explains the in-task overhead; it is not a target of its own
    assert "8.0 requests per task over 1 tasks" in figure.note
    assert "start 36.0 ms (1 per task)" in figure.note
    assert "XCom read 8.0 ms (2 per task)" in figure.note
    assert figure.note.index("start") < figure.note.index("XCom read") < figure.note.index("XCom write")


def test_no_request_or_no_log_gives_no_figure() -> None:
    assert request_figure("x", {}, tasks=5) is None
    assert request_figure("x", execution_requests(API_LOG, UNTIL, UNTIL), tasks=5) is None

    class NoLog:
        def logs(self, component: str) -> str:
            raise KeyError(component)

    assert measured_figure(NoLog(), "x", SINCE, UNTIL, tasks=5) is None  # type: ignore[arg-type]
