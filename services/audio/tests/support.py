"""Helpers the audio service tests share: waiting for the pool, the worker pids."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient


def wait_ready(client: TestClient, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, f"not ready within {within_s} s: {client.get('/ready').json()}"
        time.sleep(0.1)


def worker_pids(client: TestClient) -> list[int]:
    return [lane.warm.result(timeout=60)["pid"] for lane in client.app.state.extractor_pool._lanes]
