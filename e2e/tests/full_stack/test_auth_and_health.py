"""Who may talk to what, and whether every part says it is healthy."""

from __future__ import annotations

from collections import defaultdict

import pytest
import requests

from contracts.catalog import SERVICES, Endpoint
from e2e.tests.full_stack.conftest import WORKERS
from stack.base import Stack

pytestmark = pytest.mark.both_backends  # CI's docker pass runs these again

ENDPOINTS = [(spec.name, endpoint) for spec in SERVICES for endpoint in spec.endpoints]
PLACEHOLDER = "some-job"  # any value: the key is checked before the route's own validation


def test_rest_api_refuses_requests_without_a_valid_token(stack: Stack) -> None:
    assert requests.get(f"{stack.airflow_url}/api/v2/dags", timeout=10).status_code == 401
    bad = {"Authorization": "Bearer not-a-jwt"}
    assert requests.get(f"{stack.airflow_url}/api/v2/dags", headers=bad, timeout=10).status_code in (401, 403)
    wrong = requests.post(
        f"{stack.airflow_url}/auth/token", json={"username": stack.username, "password": "wrong"}, timeout=10
    )
    assert wrong.status_code == 401


@pytest.mark.parametrize("service,endpoint", ENDPOINTS, ids=[f"{s}:{e}" for s, e in ENDPOINTS])
@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["no key", "wrong key"])
def test_services_refuse_calls_without_the_api_key(
    stack: Stack, service: str, endpoint: Endpoint, key: str | None
) -> None:
    url = stack.service_urls[service] + endpoint.path.format_map(defaultdict(lambda: PLACEHOLDER))
    headers = {"X-API-Key": key} if key else {}
    response = requests.request(endpoint.method, url, json={}, headers=headers, timeout=10)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"]  # the error envelope, not a bare framework answer
    # health stays open: an orchestrator's probe carries no key
    assert requests.get(stack.service_urls[service] + "/ready", timeout=10).ok


def test_monitor_health_reports_every_component_healthy(stack: Stack) -> None:
    report = requests.get(f"{stack.airflow_url}/api/v2/monitor/health", timeout=10).json()
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert report[component]["status"] == "healthy", report


def test_flower_lists_every_worker_only_with_its_login(stack: Stack) -> None:
    """The seed's `curl http://localhost:5555/api/workers`, with Flower's login and no `refresh=1`: the workers
    are listed as soon as the stack is up (Flower's cache was filled when up() saw the workers)."""
    assert stack.flower is not None
    url = f"{stack.flower.url}/api/workers"
    assert requests.get(url, timeout=10).status_code == 401
    workers = requests.get(url, auth=(stack.flower.username, stack.flower.password), timeout=30).json()
    assert len(workers) == WORKERS and all("@" in name for name in workers), workers
