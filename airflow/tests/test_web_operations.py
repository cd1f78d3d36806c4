"""/hss/operations against a fake Prometheus: an HTTP server on a free port answering /api/v1/query_range.

The app is mounted as in test_web.py (Airflow's auth manager and JWT middleware). The fake records every
query it was asked, so the tests see what the page sends (PromQL, start, end, step), and answers with
matrices built from the request's own start/end/step.
"""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from airflow.api_fastapi.app import init_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.auth.middlewares.refresh_token import JWTRefreshMiddleware
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from fixtures.http_fakes import JsonHandler, LocalServer
from hss_airflow.web.app import build_app
from hss_airflow.web.charts import lines
from hss_airflow.web.library import Library

PUBLIC = "http://prometheus.example:9090"
HEARTBEAT = "time() - max(max_over_time(timestamp(increase(airflow_scheduler_heartbeat[30s]) > 0)[1h:15s]))"
# Every panel's PromQL at the default window (1h: rate over 2m), written out: a changed query fails here.
PROMQL_1H = {
    "Task outcomes per DAG": ["sum by (dag_id, state) (rate(airflow_ti_finish[2m])) * 60"],
    "DAG run duration (p90)": [
        'max by (dag_id) (airflow_dagrun_duration{quantile="0.9"})',
        'max by (dag_id) (airflow_dagrun_failed{quantile="0.9"})',
    ],
    "Task queued time (p90)": ['max by (dag_id) (airflow_task_queued_duration{quantile="0.9"})'],
    "Executor slots": [
        "sum by (executor) (airflow_executor_open_slots)",
        "sum by (executor) (airflow_executor_running_tasks)",
        "sum by (executor) (airflow_executor_queued_tasks)",
    ],
    "Pool use": ["sum by (pool) (airflow_pool_running_slots)", "sum by (pool) (airflow_pool_open_slots)"],
    "Scheduler heartbeat age": [HEARTBEAT],
    "Service requests": ['sum by (service) (rate(http_requests_total{job="hss-services"}[2m]))'],
    "Service latency (p95)": [
        "histogram_quantile(0.95, sum by (service, le) "
        '(rate(http_request_duration_seconds_bucket{job="hss-services"}[2m])))'
    ],
    "Service errors (5xx)": [
        'sum by (service) (rate(http_requests_total{job="hss-services",status="5xx"}[2m])) * 60'
        ' or sum by (service) (rate(http_requests_total{job="hss-services"}[2m])) * 0'
    ],
    "Audio queue": ["max(hss_audio_queue_depth)", "max(hss_audio_queue_capacity)", "max(hss_audio_busy_workers)"],
}
# The series the fake answers for each metric, and the line names each panel must then show.
SERIES = {
    "airflow_ti_finish": [
        {"dag_id": "comprehensive_analysis", "state": "success"},
        {"dag_id": "comprehensive_analysis", "state": "failed"},
    ],
    "airflow_dagrun_duration": [{"dag_id": "comprehensive_analysis"}],
    "airflow_dagrun_failed": [{"dag_id": "batch_analysis"}],
    "airflow_task_queued_duration": [{"dag_id": "comprehensive_analysis"}],
    "airflow_executor_": [{"executor": "CeleryExecutor"}],
    "airflow_pool_": [{"pool": "hss_audio"}, {"pool": "hss_services"}],
    "airflow_scheduler_heartbeat": [{}],
    "http_request": [{"service": "workflow-audio"}, {"service": "workflow-content"}],
    "hss_audio_": [{}],
}
NAMES = {
    "Task outcomes per DAG": ["comprehensive_analysis success", "comprehensive_analysis failed"],
    "DAG run duration (p90)": ["comprehensive_analysis success", "batch_analysis failed"],
    "Task queued time (p90)": ["comprehensive_analysis"],
    "Executor slots": ["CeleryExecutor open", "CeleryExecutor running", "CeleryExecutor queued"],
    "Pool use": ["hss_audio running", "hss_audio open", "hss_services running", "hss_services open"],
    "Scheduler heartbeat age": ["scheduler"],
    "Service requests": ["workflow-audio", "workflow-content"],
    "Service latency (p95)": ["workflow-audio", "workflow-content"],
    "Service errors (5xx)": ["workflow-audio", "workflow-content"],
    "Audio queue": ["queue depth", "capacity", "busy workers"],
}


def matrix(params: dict[str, str], series: list[dict[str, str]], value: float = 3.0) -> dict[str, Any]:
    start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
    stamps = [start + i * step for i in range(int((end - start) // step) + 1)]
    result = [{"metric": labels, "values": [[t, str(value)] for t in stamps]} for labels in series]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def canned(params: dict[str, str]) -> tuple[int, Any]:
    """The series of the first metric the query names (SERIES is ordered so the longer prefixes come first)."""
    for prefix, series in SERIES.items():
        if prefix in params["query"]:
            return 200, matrix(params, series)
    return 200, matrix(params, [])


class FakePrometheus:
    def __init__(self, answer: Callable[[dict[str, str]], tuple[int, Any]] = canned) -> None:
        self.answer = answer
        self.calls: list[dict[str, str]] = []
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.calls.append({"path": url.path, **params})
                status, payload = fake.answer(params) if url.path == "/api/v1/query_range" else (404, None)
                self.send_json(status, payload)

        self._local = LocalServer(Handler)
        self.url = self._local.url

    def close(self) -> None:
        self._local.close()


@pytest.fixture
def prometheus(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    monkeypatch.setenv("HSS_PROMETHEUS_URL", fake.url)
    monkeypatch.setenv("HSS_PROMETHEUS_PUBLIC_URL", PUBLIC)
    yield fake
    fake.close()


@pytest.fixture
def client(tmp_path: Path, airflow_db: Path) -> TestClient:
    server = FastAPI()  # as test_web.py: what the api-server does for a plugin
    init_auth_manager(server)
    server.add_middleware(JWTRefreshMiddleware)
    server.mount("/hss", build_app(Library(tmp_path)))
    return TestClient(server, follow_redirects=False)


@pytest.fixture
def get(client: TestClient) -> Callable[[str], Any]:
    from airflow.api_fastapi.app import get_auth_manager

    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    return lambda path: client.get(path, cookies={"_token": token})


def panels(page: str) -> dict[str, str]:
    """Panel title -> its section of the page."""
    sections = page.split("<section class='panel'>")[1:]
    return {html.unescape(re.search(r"<h2>(.*?)</h2>", s).group(1)): s for s in sections}


def link(section: str) -> str:
    return html.unescape(re.search(r"<a class='prometheus' href='([^']*)'>", section).group(1))


def test_every_panel_charts_its_series_by_name(prometheus: FakePrometheus, get) -> None:
    response = get("/hss/operations")
    assert response.status_code == 200
    shown = panels(response.text)
    assert list(shown) == list(NAMES)
    for title, names in NAMES.items():
        section = shown[title]
        assert section.count("<svg") == 1 and "no data yet" not in section, title
        drawn = re.findall(r"<g class=\"series\"[^>]*><title>(.*?)</title>", section)
        assert sorted(html.unescape(n) for n in drawn) == sorted(names), title
        assert "<polyline points=" in section, title
    assert "<b>Last heartbeat 3 s ago.</b>" in shown["Scheduler heartbeat age"]
    assert "id='unreachable'" not in response.text and "id='not-configured'" not in response.text
    assert "<a href='/hss/operations'>Operations</a>" in response.text  # the nav
    assert "<a href='/hss/operations'>Operations</a>" in get("/hss/songs").text  # ... on the other pages too


def test_each_panel_shows_its_promql_and_opens_it_in_prometheus(prometheus: FakePrometheus, get) -> None:
    shown = panels(get("/hss/operations").text)
    asked = {call["query"] for call in prometheus.calls}
    assert asked == {q for queries in PROMQL_1H.values() for q in queries}
    for title, queries in PROMQL_1H.items():
        section = shown[title]
        href = link(section)
        base, query = href.split("?", 1)
        assert base == f"{PUBLIC}/graph", title
        expected = {}
        for i, q in enumerate(queries):
            expected |= {f"g{i}.expr": [q], f"g{i}.tab": ["0"], f"g{i}.range_input": ["1h"]}
            assert urlencode({f"g{i}.expr": q}) in query, title  # urlencoded, exactly this PromQL
            assert f"<code>{escape(q)}</code>" in section, title  # and shown as text
        assert parse_qs(query) == expected, title


@pytest.mark.parametrize(
    ("window", "seconds", "step", "rate"),
    [("15m", 900, 15, "[1m]"), ("1h", 3600, 60, "[2m]"), ("24h", 86400, 900, "[15m]")],
)
def test_the_window_sets_start_step_and_rate_range(prometheus, get, window, seconds, step, rate) -> None:
    page = get(f"/hss/operations?window={window}").text
    assert f"<b id='window'>{window}</b>" in page
    assert len(prometheus.calls) == sum(len(q) for q in PROMQL_1H.values())
    for call in prometheus.calls:
        assert call["path"] == "/api/v1/query_range"
        assert float(call["end"]) - float(call["start"]) == pytest.approx(seconds, abs=0.01)
        assert float(call["step"]) == step and 60 <= seconds / step <= 120
    ti_finish = next(c["query"] for c in prometheus.calls if "airflow_ti_finish" in c["query"])
    assert ti_finish == f"sum by (dag_id, state) (rate(airflow_ti_finish{rate})) * 60"
    href = link(panels(page)["Task outcomes per DAG"])
    assert parse_qs(urlsplit(href).query)["g0.range_input"] == [window]


@pytest.mark.parametrize("window", ["7d", "1H", "", "<script>alert(1)</script>", "1h)) or vector(1"])
def test_any_other_window_is_a_400_page_and_asks_prometheus_nothing(prometheus, get, window: str) -> None:
    response = get("/hss/operations?" + urlencode({"window": window}))
    assert response.status_code == 400 and "<h1>400</h1>" in response.text
    assert str(escape(f"Unknown window '{window}': choose one of 15m, 1h, 24h.")) in response.text
    assert "<script>" not in response.text and prometheus.calls == []


def test_without_login_the_page_redirects_and_asks_prometheus_nothing(prometheus, client: TestClient) -> None:
    response = client.get("/hss/operations?window=15m")
    assert response.status_code == 303 and response.headers["location"].startswith("/auth/login?next=")
    assert client.get("/hss/operations", cookies={"_token": "forged"}).status_code == 303
    assert prometheus.calls == []


def test_prometheus_down_is_a_banner_on_a_200_page(monkeypatch: pytest.MonkeyPatch, get) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HSS_PROMETHEUS_URL", down)
    monkeypatch.delenv("HSS_PROMETHEUS_PUBLIC_URL", raising=False)
    response = get("/hss/operations")
    assert response.status_code == 200
    assert f"<b>Prometheus at {down} does not answer</b>" in response.text
    shown = panels(response.text)
    assert len(shown) == len(NAMES) and "<svg" not in response.text
    assert all("<p class='nodata'>" in s for s in shown.values())
    assert link(shown["Pool use"]).startswith(f"{down}/graph?")  # no public URL: the links use HSS_PROMETHEUS_URL


def test_without_a_prometheus_url_the_page_says_what_to_set(monkeypatch: pytest.MonkeyPatch, get) -> None:
    monkeypatch.delenv("HSS_PROMETHEUS_URL", raising=False)
    monkeypatch.setenv("HSS_PROMETHEUS_PUBLIC_URL", PUBLIC)
    response = get("/hss/operations")
    assert response.status_code == 200 and "<b>Metrics are not configured.</b>" in response.text
    assert "<code>HSS_PROMETHEUS_URL</code>" in response.text and "<section" not in response.text


def test_a_bad_prometheus_url_is_a_500_page_naming_the_variable(monkeypatch: pytest.MonkeyPatch, get) -> None:
    monkeypatch.setenv("HSS_PROMETHEUS_URL", "file:///etc/passwd")
    response = get("/hss/operations")
    assert response.status_code == 500 and "HSS_PROMETHEUS_URL=&#39;file:///etc/passwd&#39;" in response.text


def test_a_failing_query_is_named_in_its_panel_and_an_empty_one_says_no_data(prometheus, get) -> None:
    def answer(params: dict[str, str]) -> tuple[int, Any]:
        if "airflow_pool_" in params["query"]:
            return 400, {"status": "error", "errorType": "bad_data", "error": "parse error <script>x</script>"}
        if "hss_audio_" in params["query"] or "airflow_scheduler" in params["query"]:
            return 200, matrix(params, [])
        if "airflow_ti_finish" in params["query"]:
            return 200, {"status": "success", "data": {"resultType": "vector", "result": []}}
        return canned(params)

    prometheus.answer = answer
    response = get("/hss/operations")
    assert response.status_code == 200
    shown = panels(response.text)
    pool = shown["Pool use"]
    running = PROMQL_1H["Pool use"][0]
    assert f"Prometheus refused {escape(running)}: bad_data: parse error &lt;script&gt;x&lt;/script&gt;" in pool
    assert "<svg" not in pool and "<script" not in response.text
    assert "no data yet" in shown["Audio queue"] and "<svg" not in shown["Audio queue"]
    assert "no heartbeat in the last hour, or no data yet" in shown["Scheduler heartbeat age"]
    assert "the answer is not a matrix" in shown["Task outcomes per DAG"]
    assert "<svg" in shown["Executor slots"] and "<svg" in shown["Service requests"]  # the others are fine


def test_a_hostile_series_label_is_escaped(prometheus, get) -> None:
    payload = "<script>alert(1)</script>"

    def answer(params: dict[str, str]) -> tuple[int, Any]:
        if "airflow_ti_finish" in params["query"]:
            return 200, matrix(params, [{"dag_id": payload, "state": "'><img src=x onerror=alert(1)>"}])
        return canned(params)

    prometheus.answer = answer
    page = get("/hss/operations").text
    assert payload not in page and "<script" not in page and "<img" not in page
    assert f"<title>{escape(payload)} {escape(chr(39) + '><img src=x onerror=alert(1)>')}</title>" in page


def test_a_line_breaks_where_samples_are_missing_and_a_lone_point_is_a_dot() -> None:
    points = [(0.0, 1.0), (60.0, 2.0), (120.0, 3.0), (600.0, 5.0), (900.0, 4.0), (960.0, 4.0)]
    svg = str(lines("t", [("a", points), ("b", [(300.0, 1.0)])], start=0, end=960, step=60, unit=" s"))
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 2  # 0-120 and 900-960; 600 and b's point
    assert "a: 4 s" in svg and "b: 1 s" in svg  # the legend's last values
