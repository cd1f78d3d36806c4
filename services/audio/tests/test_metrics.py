"""workflow-audio's /metrics beyond the pool counters: the queue's capacity and Essentia seconds per song."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from contracts.catalog import AUDIO_ANALYZE
from contracts.data_layout import DataLayout
from fixtures.audio import synth_song, write_samples
from services.audio.app import build_app
from services.audio.metrics import ANALYSIS_SECONDS_BUCKETS
from services.audio.settings import AudioSettings
from services.audio.tests.support import scrape
from services.conftest import TEST_API_KEY, keyed_client, lay_out

MAX_QUEUE = 3  # not the default (8): the gauge must come from the settings
COUNT, SUM = "hss_audio_analysis_seconds_count", "hss_audio_analysis_seconds_sum"
SUCCEEDED, FAILED = 'hss_audio_analyses_total{outcome="succeeded"}', 'hss_audio_analyses_total{outcome="failed"}'


def buckets(metrics: dict[str, float]) -> dict[float, float]:
    """The histogram's cumulative buckets by upper bound (+Inf included)."""
    prefix = 'hss_audio_analysis_seconds_bucket{le="'
    return {float(name[len(prefix) : -2]): value for name, value in metrics.items() if name.startswith(prefix)}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = lay_out(tmp_path_factory.mktemp("audio_metrics") / "data")
    songs = DataLayout(root).songs
    synth_song(songs / "short.wav", seconds=3.0)
    write_samples(songs / "silence.wav", np.zeros(3 * 44100, dtype=np.float32))  # refused in the worker
    settings = AudioSettings(data_root=root, pool_size=1, max_queue=MAX_QUEUE, api_key=TEST_API_KEY)
    with keyed_client(build_app(settings)) as client:
        yield client


def test_queue_capacity_is_the_configured_max_queue_and_the_histogram_is_exported(client: TestClient) -> None:
    metrics = scrape(client)
    assert metrics["hss_audio_queue_capacity"] == MAX_QUEUE
    assert metrics["hss_audio_queue_depth"] < metrics["hss_audio_queue_capacity"]  # the "queue full" alert is quiet
    assert sorted(buckets(metrics)) == [*ANALYSIS_SECONDS_BUCKETS, float("inf")]
    assert COUNT in metrics and SUM in metrics


@pytest.mark.slow  # real Essentia runs
def test_a_succeeded_analysis_is_one_observation_of_its_seconds_and_a_refused_one_none(client: TestClient) -> None:
    before = scrape(client)
    started = time.perf_counter()
    response = client.post(AUDIO_ANALYZE.path, json={"song_id": "short", "song_path": "songs/short.wav"})
    request_s = time.perf_counter() - started
    assert response.status_code == 200, response.text
    after = scrape(client)

    assert after[COUNT] - before[COUNT] == 1
    observed = after[SUM] - before[SUM]
    # Measured around the worker's run: at least what the worker timed itself, at most the whole request.
    assert response.json()["analysis_seconds"] <= observed <= request_s
    first = min(bound for bound in ANALYSIS_SECONDS_BUCKETS if bound >= observed)
    grown = {bound: buckets(after)[bound] - buckets(before)[bound] for bound in buckets(after)}
    assert grown == {bound: int(bound >= first) for bound in grown}  # cumulative: its bucket and every wider one
    assert after[SUCCEEDED] - before[SUCCEEDED] == 1

    refused = client.post(AUDIO_ANALYZE.path, json={"song_id": "silence", "song_path": "songs/silence.wav"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "silent_audio", refused.text
    last = scrape(client)
    assert last[FAILED] - after[FAILED] == 1  # the run happened and failed in the worker...
    assert last[COUNT] == after[COUNT] and last[SUM] == after[SUM]  # ...and is not an Essentia time per song


def test_the_capacity_gauge_follows_the_pool_the_service_started(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "data")
    with keyed_client(build_app(AudioSettings(data_root=root, pool_size=1, max_queue=0, api_key=TEST_API_KEY))) as c:
        assert c.app.state.extractor_pool.max_queue == 0
        assert scrape(c)["hss_audio_queue_capacity"] == 0  # 0: none waits; every busy-worker request is 429
