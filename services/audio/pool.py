"""The extractor worker pool: N single-process executors ("lanes") warmed in the background.

Essentia is CPU bound and holds the GIL, so extraction runs in worker processes, never on the event
loop. One executor per worker lets a timed-out or crashed worker be killed and replaced without
touching the requests running in the others. After `max_analyses` analyses a worker is retired and a
fresh one warms in its place: Essentia keeps a little memory per analysis that nothing frees.

Bounded: a request waits for an idle worker only while fewer than `max_queue` others wait; beyond that it is
refused at once (429 `queue_full` with a Retry-After estimated from recent run times), never queued. A
waiting request whose client disconnects leaves the queue (checked every DISCONNECT_POLL_S and once more
right before its run is handed to the worker), so a run nobody will read never starts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from services.audio.extractor import TMP_PREFIX, warm_worker
from services.audio.metrics import PoolMetrics
from services.common.errors import ServiceError, Timeout, TooManyRequests, Unavailable

log = logging.getLogger("hss.audio")

DISCONNECT_POLL_S = 0.25  # how often a waiting request checks whether its client is still there
FIRST_RUN_ESTIMATE_S = 5.0  # the run-time estimate behind Retry-After until runs were measured
MAX_RETRY_AFTER_S = 60  # the Airflow operators honour Retry-After up to 60 s

ClientGoneCheck = Callable[[], Awaitable[bool]]


class ClientGone(ServiceError):
    """The client disconnected while its request waited: dropped before its run; nobody reads this answer."""

    status_code = 499  # nginx's "client closed request"; uvicorn discards a response to a closed connection
    code = "client_closed_request"


class _Lane:
    """One single-process executor: a timed-out or dead worker is replaced without touching the others."""

    def __init__(self, *, recycled: bool = False) -> None:
        # spawn, not fork: uvicorn and the pool's own management threads make fork unsafe.
        self.executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self.warm = self.executor.submit(warm_worker)  # warms in the background; /ready waits for it
        self.recycled = recycled  # a planned replacement: the service stays ready while it warms
        self.analyses = 0

    def warm_failed(self) -> bool:
        return self.warm.done() and (self.warm.cancelled() or self.warm.exception() is not None)

    def retire(self) -> None:
        """An idle worker exits on its own (it cleans its temp files); nothing waits for it."""
        self.executor.shutdown(wait=False)

    def kill(self) -> None:
        # ProcessPoolExecutor has no public way to stop a running task: kill its worker process,
        # then remove the temporary files it can no longer clean up (named after its pid).
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        for process in processes:
            process.kill()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            for leftover in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}{process.pid}-*"):
                shutil.rmtree(leftover, ignore_errors=True)


class ExtractorPool:
    """`size` worker processes; each call takes an idle worker, so at most `size` extractions run at once."""

    def __init__(
        self, size: int, *, max_analyses: int = 0, max_queue: int = 8, metrics: PoolMetrics | None = None
    ) -> None:
        self.size = size
        self.max_analyses = max_analyses  # 0: a worker serves for the pool's whole life
        self.max_queue = max_queue  # requests waiting for a worker beyond the busy ones; more get 429
        self.metrics = metrics or PoolMetrics()
        self.recycled = 0
        self.waiting = 0
        self._mean_run_s = FIRST_RUN_ESTIMATE_S
        self._lanes: list[_Lane] = []
        self._idle: asyncio.Queue[_Lane] | None = None

    def start(self) -> None:
        self.metrics.queue_capacity.set(self.max_queue)  # the "queue full" alert compares the depth with it
        self._lanes = [_Lane() for _ in range(self.size)]
        self._idle = asyncio.Queue()
        for lane in self._lanes:
            self._idle.put_nowait(lane)

    async def close(self) -> None:
        """Idle workers exit cleanly; a worker still busy (its request is gone) is killed."""
        lanes, self._lanes, idle = self._lanes, [], []
        while self._idle is not None and not self._idle.empty():
            idle.append(self._idle.get_nowait())
        for lane in lanes:
            if lane not in idle:
                lane.kill()
        await asyncio.gather(*(asyncio.to_thread(lane.executor.shutdown, True, cancel_futures=True) for lane in idle))

    def ready_checks(self) -> dict[str, bool]:
        warm = bool(self._lanes) and all(
            (lane.warm.done() or lane.recycled) and not lane.warm_failed() for lane in self._lanes
        )
        return {"extractor_pool_started": bool(self._lanes), "extractor_workers_warm": warm}

    def _replace(self, lane: _Lane) -> _Lane:
        lane.kill()
        fresh = _Lane()
        self._lanes = [fresh if x is lane else x for x in self._lanes]
        return fresh

    def _recycle(self, lane: _Lane) -> _Lane:
        """Retire a worker that did its `max_analyses`; the fresh one warms while the others serve."""
        lane.retire()
        fresh = _Lane(recycled=True)
        self._lanes = [fresh if x is lane else x for x in self._lanes]
        self.recycled += 1
        log.info("extractor worker retired after %d analyses; a fresh one is warming", lane.analyses)
        return fresh

    @staticmethod
    async def _warmed(lane: _Lane) -> None:
        try:
            await asyncio.wrap_future(lane.warm)
        except BrokenProcessPool:
            raise
        except Exception as exc:  # Essentia missing or broken: nothing this service can do per request
            log.error("extractor worker failed to start: %r", exc)
            raise Unavailable(
                "The audio extractor failed to start; see the service log.", code="extractor_unavailable"
            ) from exc

    def retry_after_s(self) -> int:
        """Seconds until the queue ahead of a retry has likely drained: the waiting and the running analyses,
        spread over the workers, at the recent mean run time; 1..MAX_RETRY_AFTER_S."""
        estimate = self._mean_run_s * (self.waiting + self.size) / self.size
        return min(MAX_RETRY_AFTER_S, max(1, math.ceil(estimate)))

    async def _acquire(self, client_gone: ClientGoneCheck | None) -> _Lane:
        """An idle worker; 429 at once when `max_queue` requests already wait; ClientGone when the client left."""
        assert self._idle is not None
        if not self._idle.empty():
            return self._idle.get_nowait()
        if self.waiting >= self.max_queue:
            self.metrics.rejected.inc()
            raise TooManyRequests(
                f"{self.waiting} analyses are already waiting for the {self.size} busy extractor worker(s) "
                f"(HSS_AUDIO_MAX_QUEUE={self.max_queue}); retry later.",
                code="queue_full",
                retry_after_s=self.retry_after_s(),
                details={"waiting": self.waiting, "max_queue": self.max_queue, "workers": self.size},
            )
        self.waiting += 1
        self.metrics.queue_depth.inc()
        getter = asyncio.ensure_future(self._idle.get())
        try:
            while not getter.done():
                await asyncio.wait({getter}, timeout=DISCONNECT_POLL_S)
                if not getter.done() and client_gone is not None and await client_gone():
                    raise ClientGone("The client disconnected while its analysis waited for a worker.")
            return getter.result()
        except BaseException:  # the client left, or this request was cancelled: give the worker back
            self._abandon(getter)
            raise
        finally:
            self.waiting -= 1
            self.metrics.queue_depth.dec()

    def _abandon(self, getter: asyncio.Future[_Lane]) -> None:
        if not getter.done():
            getter.cancel()  # asyncio.Queue hands a lane it had reserved for it to the next waiter
        elif not getter.cancelled() and getter.exception() is None:
            self._release(getter.result())

    def _release(self, lane: _Lane) -> None:
        assert self._idle is not None
        self._idle.put_nowait(lane)

    async def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float,
        label: str = "",
        client_gone: ClientGoneCheck | None = None,
    ) -> Any:
        """fn(*args) in a warmed worker; 504 after `timeout` s (the worker is killed), 503 if it died, 429 when
        the queue is full. `client_gone` (e.g. Request.is_disconnected) drops a request whose client left."""
        if self._idle is None or not self._lanes:
            raise Unavailable("The extractor pool is not running.", code="extractor_unavailable")
        try:
            lane = await self._acquire(client_gone)
        except ClientGone:
            self.metrics.dropped.inc()
            log.info("dropped the analysis of '%s': its client disconnected while it waited", label)
            raise
        self.metrics.busy_workers.inc()
        handed_over = False
        try:
            if client_gone is not None and await client_gone():  # the last moment before Essentia starts
                self.metrics.dropped.inc()
                log.info("dropped the analysis of '%s': its client disconnected before it started", label)
                raise ClientGone("The client disconnected before its analysis started.")
            handed_over = True  # from here _run_in gives the worker (or its replacement) back
            return await self._run_in(lane, fn, args, timeout, label)
        finally:
            self.metrics.busy_workers.dec()
            if not handed_over:
                self._release(lane)

    async def _run_in(
        self, lane: _Lane, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float, label: str
    ) -> Any:
        """One run on `lane`, counted by outcome; the lane, or the fresh one replacing it, is released after."""
        outcome: str | None = None
        try:
            await self._warmed(lane)  # start-up time does not count against the timeout
            self.metrics.started.inc()
            outcome, started = "failed", time.monotonic()
            result = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(lane.executor, fn, *args), timeout
            )
            outcome, run_s = "succeeded", time.monotonic() - started
            self.metrics.analysis_seconds.observe(run_s)
            self._mean_run_s = 0.8 * self._mean_run_s + 0.2 * run_s
            lane.analyses += 1
            if self.max_analyses and lane.analyses >= self.max_analyses:
                lane = self._recycle(lane)
            return result
        except TimeoutError:
            outcome = "timeout"
            lane = self._replace(lane)
            raise Timeout(
                f"Analysis of '{label}' took longer than {timeout:g} s and was stopped.",
                code="analysis_timeout",
                details={"path": label, "timeout_s": timeout},
            ) from None
        except BrokenProcessPool:
            outcome = "crashed" if outcome else None  # a worker that died while warming never ran anything
            lane = self._replace(lane)
            raise Unavailable(
                f"The analysis worker died while processing '{label}' (a malformed file or lack of memory); "
                "it has been restarted, retry later.",
                code="worker_crashed",
                details={"path": label},
            ) from None
        finally:
            if outcome is not None:
                self.metrics.finished.labels(outcome=outcome).inc()
            self._release(lane)
