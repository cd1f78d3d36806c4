"""Metrics on the full stack (docs/OBSERVABILITY.md): Airflow's StatsD reaches Prometheus through the statsd bridge
under the Helm chart's names, and Prometheus scrapes the services' request counters. Both backends."""

from __future__ import annotations

import pytest

from e2e.tests.full_stack.conftest import SONG_ID, SONG_PATH
from e2e.tests.full_stack.helpers import prometheus_query, prometheus_url, run_to_end, wait_for_series
from stack.base import Stack
from stack.client import AirflowClient
from stack.waiting import wait_until

pytestmark = pytest.mark.both_backends  # CI's docker pass runs these again

DAG = "comprehensive_analysis"
# what one analysis calls: audio, lyrics (content), prediction, insights (intelligence)
CALLED = ("workflow-audio", "workflow-content", "workflow-ml-prediction", "workflow-intelligence")
REQUESTS = 'sum by (service) (http_requests_total{job="hss-services", handler!="/ready"})'


def requests_by_service(prometheus: str) -> dict[str, float]:
    return {r["metric"]["service"]: float(r["value"][1]) for r in prometheus_query(prometheus, REQUESTS)}


def test_an_analysis_shows_in_prometheus_under_the_helm_chart_names_and_the_services_requests_grow(
    client: AirflowClient, stack: Stack
) -> None:
    prometheus = prometheus_url(stack)
    wait_for_series(prometheus, 'up{job="hss-services"} == 1')  # scraped at least once before the run
    before = requests_by_service(prometheus)
    run_to_end(client, DAG, {"song_id": SONG_ID, "song_path": SONG_PATH})

    # the run's duration: StatsD timer -> collectd -> scrape -> recording rule (observability/prometheus/rules/)
    [duration, *_] = wait_for_series(prometheus, f'last_over_time(airflow_dagrun_duration{{dag_id="{DAG}"}}[1h])')
    assert float(duration["value"][1]) > 0, duration
    finished = wait_for_series(prometheus, f'airflow_ti_finish{{dag_id="{DAG}", task_id="aggregate_results"}}')
    assert {series["metric"]["state"] for series in finished} >= {"success"}, finished
    assert wait_for_series(prometheus, "airflow_executor_open_slots")  # the scheduler's gauges, by executor
    assert wait_for_series(prometheus, "airflow_scheduler_heartbeat")

    def grown() -> bool:
        after = requests_by_service(prometheus)
        return all(after.get(name, 0) > before.get(name, 0) for name in CALLED)

    assert wait_until(grown, 60, 1.0, "request counters grown", raise_on_timeout=False), (
        before,
        requests_by_service(prometheus),
    )
