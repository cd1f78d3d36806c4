"""Bounded audio work, on a real uvicorn server with real worker processes: a full queue answers 429 with
Retry-After at once, a client that disconnects while waiting never reaches Essentia, and /metrics shows it.

The single worker is held busy by worker_hooks.wait_for_file (a real run in the real pool) until the test
creates the gate file; the queue allows one waiting analysis (HSS_AUDIO_MAX_QUEUE=1)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from contracts.catalog import AUDIO_ANALYZE
from fixtures.audio import synth_song
from services.audio.app import build_app
from services.audio.settings import AudioSettings
from services.audio.tests import worker_hooks
from services.conftest import API_KEY_HEADERS, TEST_API_KEY, lay_out
from stack.processes import free_port
from stack.waiting import wait_until

pytestmark = pytest.mark.slow  # the worker imports Essentia as it warms

SONG = {"song_id": "queued", "song_path": "songs/short.wav"}
WAIT_S, POLL_S = 10.0, 0.02  # the server reacts in milliseconds; polling an in-process server is cheap
HTTP_S = 120.0  # httpx's 5 s default is too short on a loaded CI machine; pytest-timeout still ends a hang


@dataclass
class Server:
    url: str
    port: int
    app: Any
    loop: asyncio.AbstractEventLoop

    @property
    def pool(self) -> Any:
        return self.app.state.extractor_pool

    def hold_worker(self, gate: Path) -> Future:
        """A real run in the pool that keeps its only worker busy until `gate` exists."""
        run = self.pool.run(worker_hooks.wait_for_file, str(gate), timeout=120, label="gate")
        return asyncio.run_coroutine_threadsafe(run, self.loop)

    def metrics(self) -> dict[str, float]:
        text = httpx.get(f"{self.url}/metrics", timeout=HTTP_S).text
        return {
            sample.name + _labels(sample.labels): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith("hss_audio_")
        }


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = lay_out(tmp_path_factory.mktemp("queue") / "data")
    synth_song(root / "songs" / "short.wav", seconds=3.0)
    app = build_app(AudioSettings(data_root=root, pool_size=1, max_queue=1, api_key=TEST_API_KEY))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(uv.serve(),), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: uv.started, 30, POLL_S, "uvicorn started")
    wait_until(lambda: httpx.get(f"{url}/ready", timeout=HTTP_S).status_code == 200, 120, POLL_S, "the worker warmed")
    try:
        yield Server(url, port, app, loop)
    finally:
        uv.should_exit = True
        thread.join(timeout=60)


def test_the_request_beyond_the_queue_gets_429_with_retry_after_at_once(server: Server, tmp_path: Path) -> None:
    before = server.metrics()
    gate = tmp_path / "gate"
    held = server.hold_worker(gate)
    wait_until(lambda: server.metrics()["hss_audio_busy_workers"] == 1, WAIT_S, POLL_S, "the worker is held")
    with ThreadPoolExecutor(max_workers=1) as threads:
        waiting = threads.submit(
            httpx.post, server.url + AUDIO_ANALYZE.path, json=SONG, headers=API_KEY_HEADERS, timeout=HTTP_S
        )
        wait_until(lambda: server.pool.waiting == 1, WAIT_S, POLL_S, "the first request waits")
        started = time.perf_counter()
        refused = httpx.post(server.url + AUDIO_ANALYZE.path, json=SONG, headers=API_KEY_HEADERS, timeout=HTTP_S)
        refused_in = time.perf_counter() - started
        during = server.metrics()
        gate.touch()
        assert waiting.result(timeout=120).status_code == 200
    held.result(timeout=30)

    assert refused.status_code == 429, refused.text
    # The held worker is freed only after this answer, so a request that queued would have timed out instead;
    # the bound tells "at once" from a slow machine.
    assert refused_in < WAIT_S, "refused at once, not after waiting"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    error = refused.json()["error"]
    assert error["code"] == "queue_full" and "HSS_AUDIO_MAX_QUEUE=1" in error["message"]
    assert error["details"] == {"waiting": 1, "max_queue": 1, "workers": 1}
    assert during["hss_audio_queue_depth"] == 1 and during["hss_audio_busy_workers"] == 1
    after = server.metrics()
    assert after["hss_audio_requests_rejected_total"] - before["hss_audio_requests_rejected_total"] == 1
    assert after["hss_audio_analyses_started_total"] - before["hss_audio_analyses_started_total"] == 2
    succeeded = 'hss_audio_analyses_total{outcome="succeeded"}'
    assert after[succeeded] - before[succeeded] == 2  # the held run and the waiting analysis
    assert after["hss_audio_queue_depth"] == 0 and after["hss_audio_busy_workers"] == 0


def _raw_request(port: int) -> socket.socket:
    body = httpx.Request("POST", "http://x", json=SONG).content
    head = (
        f"POST {AUDIO_ANALYZE.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {TEST_API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(head.encode() + body)
    return client


def test_a_client_that_disconnects_while_waiting_never_reaches_essentia(server: Server, tmp_path: Path) -> None:
    before = server.metrics()
    gate = tmp_path / "gate"
    held = server.hold_worker(gate)
    wait_until(lambda: server.metrics()["hss_audio_busy_workers"] == 1, WAIT_S, POLL_S, "the worker is held")
    client = _raw_request(server.port)
    wait_until(lambda: server.pool.waiting == 1, WAIT_S, POLL_S, "the request waits for the worker")
    client.close()  # the client gives up while its analysis waits
    dropped = "hss_audio_requests_dropped_total"
    wait_until(lambda: server.metrics()[dropped] > before[dropped], WAIT_S, POLL_S, "the waiting request is dropped")
    assert server.pool.waiting == 0  # it left the queue at once, not when the worker came free
    gate.touch()
    held.result(timeout=30)
    time.sleep(0.5)  # had the dropped request been handed to the worker, it would have started by now

    after = server.metrics()
    assert after["hss_audio_requests_dropped_total"] - before["hss_audio_requests_dropped_total"] == 1
    assert after["hss_audio_analyses_started_total"] - before["hss_audio_analyses_started_total"] == 1  # the gate
    assert after["hss_audio_queue_depth"] == 0 and after["hss_audio_busy_workers"] == 0


def test_the_metrics_are_exported_from_the_start(server: Server) -> None:
    names = set(server.metrics())
    assert {
        "hss_audio_analyses_started_total",
        'hss_audio_analyses_total{outcome="succeeded"}',
        'hss_audio_analyses_total{outcome="failed"}',
        'hss_audio_analyses_total{outcome="timeout"}',
        'hss_audio_analyses_total{outcome="crashed"}',
        "hss_audio_queue_depth",
        "hss_audio_busy_workers",
        "hss_audio_requests_rejected_total",
        "hss_audio_requests_dropped_total",
    } <= names
