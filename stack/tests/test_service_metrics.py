"""Splitting a run's time into service work and Airflow's share, from the services' own histograms."""

from __future__ import annotations

import pytest

from stack import service_metrics
from stack.service_metrics import analysis_critical_path, service_seconds

METRICS = """\
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_sum{handler="/analyze/comprehensive",method="POST"} 2.5
http_request_duration_seconds_sum{handler="/health",method="GET"} 9.0
http_request_duration_seconds_count{handler="/analyze/comprehensive",method="POST"} 3.0
"""


class FakeResponse:
    text = METRICS


def test_service_seconds_sums_only_the_business_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(service_metrics.requests, "get", lambda url, timeout: calls.append(url) or FakeResponse())
    assert service_seconds({"workflow-audio": "http://a"}) == {"workflow-audio": 2.5}
    assert calls == ["http://a/metrics"]


def test_critical_path_takes_the_slower_of_the_parallel_pair() -> None:
    before = {
        "workflow-audio": 1.0,
        "workflow-content": 0.0,
        "workflow-ml-prediction": 0.0,
        "workflow-intelligence": 0.0,
    }
    after = {
        "workflow-audio": 3.0,
        "workflow-content": 0.5,
        "workflow-ml-prediction": 0.25,
        "workflow-intelligence": 0.125,
    }
    path, spent = analysis_critical_path(before, after)
    assert spent["workflow-audio"] == 2.0
    assert "workflow-ml-training" not in spent  # not on this DAG's path
    assert path == pytest.approx(2.0 + 0.25 + 0.125)


def test_service_seconds_read_the_labels_in_any_order(monkeypatch: pytest.MonkeyPatch) -> None:
    class Reordered:
        text = """\
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_sum{method="POST",handler="/analyze/comprehensive",le_extra="x"} 1.5
http_request_duration_seconds_sum{method="GET",handler="/analyze/comprehensive"} 4.0
"""

    monkeypatch.setattr(service_metrics.requests, "get", lambda url, timeout: Reordered())
    assert service_seconds({"workflow-audio": "http://a"}) == {"workflow-audio": 1.5}
