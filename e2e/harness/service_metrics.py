"""The services' own time, from their Prometheus histograms (server side, not what a client saw).

Used to split a DAG run's trigger→success time into service work and Airflow's added time.
"""

from __future__ import annotations

import requests

from contracts.catalog import SERVICES


def service_seconds(urls: dict[str, str]) -> dict[str, float]:
    """{service name: seconds spent in its business endpoints so far} (sum of the latency histogram)."""
    totals: dict[str, float] = {}
    for spec in SERVICES:
        if spec.name not in urls:
            continue
        text = requests.get(f"{urls[spec.name]}/metrics", timeout=5).text
        total = 0.0
        for endpoint in spec.endpoints:
            prefix = f'http_request_duration_seconds_sum{{handler="{endpoint.path}",method="{endpoint.method}"}} '
            total += sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))
        totals[spec.name] = total
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
