"""The extractor pool retires a worker after max_analyses and stays ready while the fresh one warms."""

from __future__ import annotations

import asyncio
import os

import pytest

from services.audio.pool import ExtractorPool

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
