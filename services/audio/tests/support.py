"""Helpers the audio service tests share: waiting for the pool, the worker pids, reading /metrics."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


def wait_ready(client: TestClient, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, f"not ready within {within_s} s: {client.get('/ready').json()}"
        time.sleep(0.1)


def worker_pids(client: TestClient) -> list[int]:
    return [lane.warm.result(timeout=60)["pid"] for lane in client.app.state.extractor_pool._lanes]


def scrape(client: TestClient, prefix: str = "hss_audio_") -> dict[str, float]:
    """/metrics as {'name{label="value",...}': value} for the samples whose name starts with `prefix`."""
    return {
        sample.name + _labels(sample.labels): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name.startswith(prefix)
    }


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
