"""The services' own time, from their Prometheus histograms (server side, not what a client saw).

Used to split a DAG run's trigger→success time into service work and Airflow's added time.
"""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from contracts.catalog import AUDIO_ANALYZE, SERVICES

LATENCY_HISTOGRAM = "http_request_duration_seconds"  # prometheus-fastapi-instrumentator's, per handler and method


def service_seconds(urls: dict[str, str]) -> dict[str, float]:
    """{service name: seconds spent in its business endpoints so far} (sum of the latency histogram)."""
    totals: dict[str, float] = {}
    for spec in SERVICES:
        if spec.name not in urls:
            continue
        text = requests.get(f"{urls[spec.name]}/metrics", timeout=5).text
        business = {(endpoint.path, endpoint.method) for endpoint in spec.endpoints}
        totals[spec.name] = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == LATENCY_HISTOGRAM
            for sample in family.samples
            if sample.name == f"{LATENCY_HISTOGRAM}_sum"
            and (sample.labels.get("handler"), sample.labels.get("method")) in business
        )
    return totals


def analysis_critical_path(before: dict[str, float], after: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Service seconds on comprehensive_analysis' critical path between two snapshots:
    max(audio, content) + prediction + insights (audio and content run in parallel)."""
    on_path = ("workflow-audio", "workflow-content", "workflow-ml-prediction", "workflow-intelligence")
    spent = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in on_path}
    path = (
        max(spent.get("workflow-audio", 0.0), spent.get("workflow-content", 0.0))
        + spent.get("workflow-ml-prediction", 0.0)
        + spent.get("workflow-intelligence", 0.0)
    )
    return path, spent


def analyses_served(audio_url: str) -> int:
    """POST /analyze/comprehensive requests one workflow-audio process answered so far (every status), from its
    own /metrics: a replica's share of a batch, or what a worker host's own replica analysed."""
    return analyses_in(requests.get(f"{audio_url}/metrics", timeout=5).text)


def analyses_in(metrics_text: str) -> int:
    """The same, from a /metrics text read another way (a replica publishing no port: `docker exec`)."""
    text = metrics_text
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "http_requests_total"
            and sample.labels.get("handler") == AUDIO_ANALYZE.path
            and sample.labels.get("method") == "POST"
        )
    )
