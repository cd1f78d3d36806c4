"""The extractor worker pool: N single-process executors ("lanes") warmed in the background.

Essentia is CPU bound and holds the GIL, so extraction runs in worker processes, never on the event
loop. One executor per worker lets a timed-out or crashed worker be killed and replaced without
touching the requests running in the others. After `max_analyses` analyses a worker is retired and a
fresh one warms in its place: Essentia keeps a little memory per analysis that nothing frees.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from services.audio.extractor import TMP_PREFIX, warm_worker
from services.common.errors import Timeout, Unavailable

log = logging.getLogger("hss.audio")


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

    def __init__(self, size: int, *, max_analyses: int = 0) -> None:
        self.size = size
        self.max_analyses = max_analyses  # 0: a worker serves for the pool's whole life
        self.recycled = 0
        self._lanes: list[_Lane] = []
        self._idle: asyncio.Queue[_Lane] | None = None

    def start(self) -> None:
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

    async def run(self, fn: Callable[..., Any], *args: Any, timeout: float, label: str = "") -> Any:
        """fn(*args) in a warmed worker; 504 after `timeout` s (the worker is killed), 503 if it died."""
        if self._idle is None or not self._lanes:
            raise Unavailable("The extractor pool is not running.", code="extractor_unavailable")
        lane = await self._idle.get()
        try:
            try:
                await self._warmed(lane)  # start-up time does not count against the timeout
                result = await asyncio.wait_for(
                    asyncio.get_running_loop().run_in_executor(lane.executor, fn, *args), timeout
                )
                lane.analyses += 1
                if self.max_analyses and lane.analyses >= self.max_analyses:
                    lane = self._recycle(lane)
                return result
            except TimeoutError:
                lane = self._replace(lane)
                raise Timeout(
                    f"Analysis of '{label}' took longer than {timeout:g} s and was stopped.",
                    code="analysis_timeout",
                    details={"path": label, "timeout_s": timeout},
                ) from None
            except BrokenProcessPool:
                lane = self._replace(lane)
                raise Unavailable(
                    f"The analysis worker died while processing '{label}' (a malformed file or lack of memory); "
                    "it has been restarted, retry later.",
                    code="worker_crashed",
                    details={"path": label},
                ) from None
        finally:
            self._idle.put_nowait(lane)
