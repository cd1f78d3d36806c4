"""Memory of a stack, sampled over time: `PeakMemory(stack.memory_bytes)` keeps the highest figure seen.

A local stack counts the PSS of every process in its process groups (and of those that left one, such as
PostgreSQL's backends: stack.process_tree): PSS (proportional set size) splits
shared pages (the venv's libraries, forked Celery children) between the processes that share them, so the
sum is what the stack really costs the machine — RSS would count each shared library once per process and
overstate it several times. A docker stack sums `docker stats` over its containers (docker_stack.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import psutil

from stack.process_tree import owning_group


def pss_by_group(pgids: set[int]) -> dict[int, int]:
    """PSS summed per process group, for the groups in `pgids`, with the processes descending from one that
    left it (stack.process_tree: PostgreSQL's backends). psutil reads smaps_rollup per process."""
    parent, group, processes = {}, {}, {}
    for process in psutil.process_iter(["ppid"]):
        try:
            group[process.pid] = os.getpgid(process.pid)
        except OSError:
            continue  # gone meanwhile
        parent[process.pid], processes[process.pid] = process.info["ppid"] or 0, process
    totals = dict.fromkeys(pgids, 0)
    for pid, process in processes.items():
        owner = owning_group(pid, parent, group, totals)
        if owner is None:
            continue
        try:
            totals[owner] += process.memory_full_info().pss
        except psutil.Error:
            continue  # gone meanwhile, or not ours to read
    return totals


def groups_pss(pgids: set[int]) -> int:
    """Sum of PSS over every live process whose process group is in `pgids`."""
    return sum(pss_by_group(pgids).values())


class PeakMemory:
    """Calls `measure` (bytes now) every `interval` seconds in a daemon thread; `peak` is the highest value seen.

    `measure` runs again at every sample: a restarted component leads a new process group or container."""

    def __init__(self, measure: Callable[[], float], interval: float = 2.0) -> None:
        self.measure, self.interval = measure, interval
        self.peak, self.samples = 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = self.measure()
            except Exception:  # the stack is starting or stopping: no figure this time
                value = None
            if value is not None:
                self.peak, self.samples = max(self.peak, value), self.samples + 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
