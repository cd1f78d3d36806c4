"""Where the CPU went during a measured window: each stack component, this bench, and everyone else.

On 2 shared cores a throughput figure means little without knowing who else used the CPU. Linux
accounts every process's CPU time in /proc/<pid>/stat (utime, stime, and cutime/cstime of its reaped
children: a finished task process is charged to its supervisor). The stack's processes each lead their
own process group (e2e's ManagedProcess starts a new session), so a process belongs to the component
whose leader's pid is its process group. /proc/stat gives the whole machine; what neither the stack nor
this bench used is "others" (another engineer's Locust run, a build...).

    with CpuWindow(bench.stack) as cpu:
        ...run something...
    cpu.result  # {"wall_s", "machine_busy_s", "components": {name: cpu s}, "others_s", ...}
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
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
    cpu_s: float  # utime + stime + cutime + cstime


def parse_stat(text: str) -> Proc:
    """One /proc/<pid>/stat line (the command name may hold spaces and parentheses)."""
    head, _, rest = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = rest.split()
    ticks = sum(int(x) for x in fields[11:15])
    return Proc(pid, int(fields[1]), int(fields[2]), ticks / CLK_TCK)


def processes(proc: Path = Path("/proc")) -> dict[int, Proc]:
    found = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            found[int(entry.name)] = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not readable
            continue
    return found


def machine_busy_s(stat: str | None = None) -> float:
    """CPU seconds the whole machine spent busy since boot (all cores), from /proc/stat's first line."""
    text = stat if stat is not None else Path("/proc/stat").read_text()
    values = [int(x) for x in text.splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


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


def by_component(table: dict[int, Proc], leaders: dict[int, str], root: int) -> dict[str, float]:
    """CPU seconds per component: processes whose group leader is a stack process; the rest of this
    bench's tree (itself, its clients and tool subprocesses) is "bench"."""
    totals = dict.fromkeys([*leaders.values(), "bench"], 0.0)
    mine = descendants(root, table) | {root}
    for pid, p in table.items():
        name = leaders.get(p.pgrp)
        if name is not None:
            totals[name] += p.cpu_s
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
