"""The extractor pool: it retires a worker after max_analyses and stays ready while the fresh one warms; a request
whose client left never runs; a cancelled waiting request leaves the queue without losing a worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import pytest
from prometheus_client import CollectorRegistry

from services.audio.metrics import PoolMetrics
from services.audio.pool import ClientGone, ExtractorPool
from services.common.errors import TooManyRequests

pytestmark = pytest.mark.slow  # each worker imports Essentia as it warms


def test_a_worker_is_replaced_after_max_analyses_without_the_pool_going_unready() -> None:
    async def scenario() -> tuple[list[int], list[bool], int]:
        pool = ExtractorPool(1, max_analyses=2)
        pool.start()
        pids, ready = [], []
        try:
            for _ in range(5):
                pids.append(await pool.run(os.getpid, timeout=60))
                ready.append(pool.ready_checks()["extractor_workers_warm"])
        finally:
            await pool.close()
        return pids, ready, pool.recycled

    pids, ready, recycled = asyncio.run(scenario())
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]  # two analyses per worker process
    assert recycled == 2
    assert all(ready)  # a planned replacement does not take the service out of rotation


def test_without_a_limit_one_worker_serves_every_analysis() -> None:
    async def scenario() -> list[int]:
        pool = ExtractorPool(1)
        pool.start()
        try:
            return [await pool.run(os.getpid, timeout=60) for _ in range(3)]
        finally:
            await pool.close()

    assert len(set(asyncio.run(scenario()))) == 1


def _sample(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


def test_a_request_whose_client_left_is_dropped_before_its_run_even_with_an_idle_worker() -> None:
    """The last check before the hand-over: an idle worker is there, the client is not; nothing runs."""
    registry = CollectorRegistry()

    async def gone() -> bool:
        return True

    async def scenario() -> int:
        pool = ExtractorPool(1, metrics=PoolMetrics(registry))
        pool.start()
        try:
            with pytest.raises(ClientGone):
                await pool.run(os.getpid, timeout=60, client_gone=gone)
            assert _sample(registry, "hss_audio_analyses_started_total") == 0
            return await pool.run(os.getpid, timeout=60)  # the worker was given back
        finally:
            await pool.close()

    assert asyncio.run(scenario()) > 0
    assert _sample(registry, "hss_audio_requests_dropped_total") == 1
    assert _sample(registry, "hss_audio_analyses_started_total") == 1
    assert _sample(registry, "hss_audio_busy_workers") == 0


def test_a_waiting_request_that_is_cancelled_leaves_the_queue_and_loses_no_worker() -> None:
    registry = CollectorRegistry()

    async def scenario() -> int:
        pool = ExtractorPool(1, max_queue=1, metrics=PoolMetrics(registry))
        pool.start()
        try:
            hold = asyncio.create_task(pool.run(time.sleep, 1.0, timeout=60))
            await asyncio.sleep(0)
            waiter = asyncio.create_task(pool.run(os.getpid, timeout=60))
            while pool.waiting == 0:
                await asyncio.sleep(0.01)
            assert _sample(registry, "hss_audio_queue_depth") == 1
            with pytest.raises(TooManyRequests):  # the queue (one) is full
                await pool.run(os.getpid, timeout=60)
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            assert pool.waiting == 0 and _sample(registry, "hss_audio_queue_depth") == 0
            await hold
            return await pool.run(os.getpid, timeout=60)
        finally:
            await pool.close()

    assert asyncio.run(scenario()) > 0
    assert _sample(registry, "hss_audio_requests_rejected_total") == 1
    assert _sample(registry, "hss_audio_analyses_started_total") == 2  # the hold and the last run, not the cancelled
