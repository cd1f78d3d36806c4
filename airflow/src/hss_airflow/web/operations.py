"""The /hss/operations page's data: fixed PromQL panels over a chosen window, asked of Prometheus in parallel.

The queries are constants of this module. The only thing a request chooses is the window, a key of
WINDOWS, so nothing a user types reaches PromQL. A panel whose query fails or returns nothing says so;
Prometheus answering nothing at all is one banner. The page never fails because of Prometheus.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hss_airflow.web import prometheus
from hss_airflow.web.charts import lines, number

TIMEOUT_S = 5.0  # per query; the queries run in parallel, so also about the longest a page waits
NO_DATA = "no data yet"


@dataclass(frozen=True)
class Window:
    name: str  # also Prometheus' own range_input for the "open in Prometheus" links
    seconds: int
    step: int  # seconds between points
    rate: str  # the range of rate(): at least two scrapes (15 s apart), and at least the step


# 60-120 points per chart. 15 s is the scrape and rule interval: a finer step shows nothing new.
WINDOWS = {
    "15m": Window("15m", 15 * 60, 15, "1m"),
    "1h": Window("1h", 3600, 60, "2m"),
    "24h": Window("24h", 24 * 3600, 900, "15m"),
}
DEFAULT_WINDOW = "1h"


@dataclass(frozen=True)
class Query:
    expr: str  # "$rate" stands for the window's rate range
    legend: str  # the line's name: str.format of the series' labels, e.g. "{dag_id} {state}"

    def promql(self, window: Window) -> str:
        return self.expr.replace("$rate", window.rate)


@dataclass(frozen=True)
class Panel:
    title: str
    caption: str
    unit: str
    queries: tuple[Query, ...]
    empty: str = NO_DATA
    headline: str | None = None  # "{value}": the freshest series' current value, when it has one


# Scheduler heartbeat age. `time() - timestamp(airflow_scheduler_heartbeat)` would stay near 0 after the
# scheduler dies: collectd keeps reporting the unchanged counter, so the recorded sample stays fresh. A plot of
# rate(airflow_scheduler_heartbeat[1m]) shows alive (~1/s) or dead (0) but not for how long. So: the latest
# 15 s step (the rule interval) at which the counter grew over 30 s (the alert's test, alerts.rules.yml),
# found by a subquery over the last hour, subtracted from now. Alive it reads 0-15 s; dead it climbs
# steadily; after an hour without a heartbeat the subquery finds none and the line ends. The same
# expression opens in Prometheus' UI.
HEARTBEAT_AGE = "time() - max(max_over_time(timestamp(increase(airflow_scheduler_heartbeat[30s]) > 0)[1h:15s]))"
SERVICES = 'job="hss-services"'

PANELS = (
    Panel(
        "Task outcomes per DAG",
        "Task instances finishing per minute, by DAG and final state (success, failed, skipped, …).",
        "/min",
        (Query("sum by (dag_id, state) (rate(airflow_ti_finish[$rate])) * 60", "{dag_id} {state}"),),
    ),
    Panel(
        "DAG run duration (p90)",
        "90th percentile of the runs that ended in the last few minutes: successful and failed runs, by DAG.",
        " s",
        (
            Query('max by (dag_id) (airflow_dagrun_duration{quantile="0.9"})', "{dag_id} success"),
            Query('max by (dag_id) (airflow_dagrun_failed{quantile="0.9"})', "{dag_id} failed"),
        ),
    ),
    Panel(
        "Task queued time (p90)",
        "90th percentile of the seconds a task waited between queued and running, by DAG (alert above 60 s).",
        " s",
        (Query('max by (dag_id) (airflow_task_queued_duration{quantile="0.9"})', "{dag_id}"),),
    ),
    Panel(
        "Executor slots",
        "Open slots, running and queued tasks of each executor.",
        "",
        (
            Query("sum by (executor) (airflow_executor_open_slots)", "{executor} open"),
            Query("sum by (executor) (airflow_executor_running_tasks)", "{executor} running"),
            Query("sum by (executor) (airflow_executor_queued_tasks)", "{executor} queued"),
        ),
    ),
    Panel(
        "Pool use",
        "Running and open slots of each pool (hss_audio, hss_services, default_pool).",
        "",
        (
            Query("sum by (pool) (airflow_pool_running_slots)", "{pool} running"),
            Query("sum by (pool) (airflow_pool_open_slots)", "{pool} open"),
        ),
    ),
    Panel(
        "Scheduler heartbeat age",
        "Seconds since the scheduler's heartbeat counter last grew (15 s resolution): 0-15 s while it lives.",
        " s",
        (Query(HEARTBEAT_AGE, "scheduler"),),
        empty="no heartbeat in the last hour, or no data yet",
        headline="Last heartbeat {value} ago.",
    ),
    Panel(
        "Service requests",
        "HTTP requests per second answered by each service.",
        " req/s",
        (Query(f"sum by (service) (rate(http_requests_total{{{SERVICES}}}[$rate]))", "{service}"),),
    ),
    Panel(
        "Service latency (p95)",
        "95th percentile of the request duration of each service, from its histogram.",
        " s",
        (
            Query(
                "histogram_quantile(0.95, sum by (service, le) "
                f"(rate(http_request_duration_seconds_bucket{{{SERVICES}}}[$rate])))",
                "{service}",
            ),
        ),
    ),
    Panel(
        "Service errors (5xx)",
        "Requests per minute each service answered with a 5xx; 0 for a service that had none.",
        "/min",
        (
            # `or … * 0`: a service without any 5xx yet has no such series; it shows as 0, not as missing
            Query(
                f'sum by (service) (rate(http_requests_total{{{SERVICES},status="5xx"}}[$rate])) * 60'
                f" or sum by (service) (rate(http_requests_total{{{SERVICES}}}[$rate])) * 0",
                "{service}",
            ),
        ),
    ),
    Panel(
        "Audio queue",
        "Songs waiting in the audio service's queue, its capacity (beyond it the service answers 429 "
        "queue_full, which the tasks retry), busy workers.",
        "",
        (
            Query("max(hss_audio_queue_depth)", "queue depth"),
            Query("max(hss_audio_queue_capacity)", "capacity"),
            Query("max(hss_audio_busy_workers)", "busy workers"),
        ),
    ),
)


class _Labels(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def series_name(legend: str, labels: dict[str, str]) -> str:
    """The legend filled in with the series' labels; a label it does not have is '?'."""
    return legend.format_map(_Labels(labels)).strip() or "value"


def prometheus_link(public_url: str, exprs: list[str], window: Window) -> str:
    """The same queries as graphs in Prometheus' own UI, over the same window."""
    params: dict[str, str] = {}
    for i, expr in enumerate(exprs):
        params |= {f"g{i}.expr": expr, f"g{i}.tab": "0", f"g{i}.range_input": window.name}
    return f"{public_url}/graph?{urlencode(params)}"


def _ask(url: str, expr: str, start: float, end: float, step: int) -> list[prometheus.Series] | Exception:
    try:
        return prometheus.query_range(url, expr, start=start, end=end, step=step, timeout=TIMEOUT_S)
    except prometheus.PrometheusError as exc:
        return exc


def collect(url: str, public_url: str, window: Window, *, now: float | None = None) -> dict[str, Any]:
    """What the page shows: one entry per panel, and `unreachable` (why) when Prometheus answered nothing."""
    end = time.time() if now is None else now
    start = end - window.seconds
    jobs = [(panel, query.promql(window), query.legend) for panel in PANELS for query in panel.queries]
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="hss-prometheus") as pool:
        answers = list(pool.map(lambda job: _ask(url, job[1], start, end, window.step), jobs))
    unreachable = all(isinstance(a, prometheus.Unreachable) for a in answers)
    panels = []
    for panel in PANELS:
        mine = [(expr, legend, answer) for (p, expr, legend), answer in zip(jobs, answers, strict=True) if p is panel]
        panels.append(_panel(panel, mine, window, start, end, public_url, quiet=unreachable))
    return {
        "unreachable": str(answers[0]) if unreachable else None,
        "panels": panels,
        "as_of": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end)),
    }


def _panel(
    panel: Panel,
    answers: list[tuple[str, str, list[prometheus.Series] | Exception]],
    window: Window,
    start: float,
    end: float,
    public_url: str,
    *,
    quiet: bool,
) -> dict[str, Any]:
    series: list[tuple[str, list[tuple[float, float]]]] = []
    errors = []
    for expr, legend, answer in answers:
        if isinstance(answer, prometheus.Unreachable):
            errors.append(f"no answer to {expr}: {answer}")
        elif isinstance(answer, Exception):
            errors.append(f"Prometheus refused {expr}: {answer}")
        else:
            series += [(series_name(legend, s.labels), s.points) for s in answer if s.points]
    exprs = [expr for expr, _, _ in answers]
    return {
        "title": panel.title,
        "caption": panel.caption,
        "queries": exprs,
        "link": prometheus_link(public_url, exprs, window),
        "chart": lines(panel.title, series, start=start, end=end, step=window.step, unit=panel.unit)
        if series
        else None,
        "errors": [] if quiet else errors,
        "empty": panel.empty,
        "headline": _headline(panel, series, end, window.step),
    }


def _headline(panel: Panel, series: list[tuple[str, list[tuple[float, float]]]], end: float, step: int) -> str | None:
    """The panel's sentence about now, from the series that have a point at the end of the window."""
    current = [max(points)[1] for _, points in series if max(points)[0] >= end - 1.5 * step]
    if panel.headline is None or not current:
        return None
    return panel.headline.format(value=f"{number(min(current))}{panel.unit}")
