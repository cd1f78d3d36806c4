"""Where the CPU went during a measured window: each stack component, this bench, and everyone else.

On 2 shared cores a throughput figure means little without knowing who else used the CPU. psutil reads
each process's CPU time (user + system, plus that of its reaped children: a finished task process is
charged to its supervisor) and the whole machine's. The stack's processes each lead their own process
group (the local stack starts each in a new session), so a process belongs to the component whose
leader's pid is its process group, or whose group an ancestor of it is in: PostgreSQL's backends leave the
postmaster's group (setsid), and a backend that lives through the window — a pooled connection — would
otherwise count for no one. What neither the stack nor this bench used is "others" (another
engineer's Locust run, a build...).

    with CpuWindow(bench.stack) as cpu:
        ...run something...
    cpu.result  # {"wall_s", "machine_busy_s", "components": {name: cpu s}, "others_s", ...}
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from stack.process_tree import owning_group

AIRFLOW_COMPONENTS = (
    "api-server",
    "scheduler",
    "dag-processor",
    "triggerer",
    "airflow-worker",
    "flower",
    "postgres",
    "redis",
)


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgrp: int
    cpu_s: float  # user + system, own and reaped children's


def processes() -> dict[int, Proc]:
    """Every process of the machine this user may read (one that exits meanwhile is left out)."""
    found = {}
    for process in psutil.process_iter(["ppid", "cpu_times"]):
        times = process.info["cpu_times"]
        if times is None:  # not readable
            continue
        try:
            pgrp = os.getpgid(process.pid)
        except OSError:  # gone meanwhile
            continue
        cpu_s = times.user + times.system + times.children_user + times.children_system
        found[process.pid] = Proc(process.pid, process.info["ppid"] or 0, pgrp, cpu_s)
    return found


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores): everything but idle and iowait."""
    t = psutil.cpu_times()
    return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def machine_steal_s() -> tuple[float, float]:
    """(steal, total) CPU seconds of the whole machine since boot. Steal is the time a virtual machine's cores
    were ready to run but the host ran something else (0 where the OS does not report it)."""
    t = psutil.cpu_times()
    return getattr(t, "steal", 0.0), sum(t)


def descendants(root: int, table: dict[int, Proc]) -> set[int]:
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def own_tree_cpu_s(root: int | None = None) -> float:
    """CPU seconds of `root` (default: this process) and all its descendants."""
    table = processes()
    root = os.getpid() if root is None else root
    return sum(table[pid].cpu_s for pid in descendants(root, table) | {root} if pid in table)


def by_component(table: dict[int, Proc], leaders: dict[int, str], root: int) -> dict[str, float]:
    """CPU seconds per component: processes in a stack process's group or descending from one
    (stack.process_tree.owning_group); the rest of this bench's tree (itself, its clients and tool
    subprocesses) is "bench"."""
    totals = dict.fromkeys([*leaders.values(), "bench"], 0.0)
    mine = descendants(root, table) | {root}
    parent = {p.pid: p.ppid for p in table.values()}
    group = {p.pid: p.pgrp for p in table.values()}
    for pid, p in table.items():
        leader = owning_group(pid, parent, group, leaders)
        if leader is not None:
            totals[leaders[leader]] += p.cpu_s
        elif pid in mine:
            totals["bench"] += p.cpu_s
    return totals


@dataclass
class CpuWindow:
    """Snapshot on enter and exit; `result` holds the differences (see the module doc)."""

    stack: Any = None  # a LocalStack (its .group.processes name the components), or None: bench only
    result: dict[str, Any] = field(default_factory=dict)

    def _leaders(self) -> dict[int, str]:
        if self.stack is None:
            return {}
        return {p.pid: p.name for p in self.stack.group.processes if p.pid is not None}

    def _snapshot(self) -> tuple[float, float, dict[str, float]]:
        return time.monotonic(), machine_busy_s(), by_component(processes(), self._leaders(), os.getpid())

    def __enter__(self) -> CpuWindow:
        self._start = self._snapshot()
        return self

    def __exit__(self, *_: object) -> None:
        t0, busy0, comp0 = self._start
        t1, busy1, comp1 = self._snapshot()
        components = {name: max(0.0, comp1.get(name, 0.0) - comp0.get(name, 0.0)) for name in comp1}
        self.result = summarize(t1 - t0, busy1 - busy0, components)


def summarize(wall: float, machine_busy: float, components: dict[str, float]) -> dict[str, Any]:
    ours = sum(components.values())
    airflow = sum(components.get(name, 0.0) for name in AIRFLOW_COMPONENTS)
    return {
        "wall_s": wall,
        "machine_busy_s": machine_busy,
        "components": components,
        "ours_s": ours,
        "airflow_s": airflow,
        "audio_s": components.get("workflow-audio", 0.0),
        "others_s": max(0.0, machine_busy - ours),
        "others_cores": max(0.0, machine_busy - ours) / wall if wall > 0 else 0.0,
    }
