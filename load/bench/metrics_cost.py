"""What the metrics path costs (docs/OBSERVABILITY.md): the statsd bridge, Prometheus and Alertmanager.

Two full local stacks in turn, never side by side (2 cores): first with metrics, then without
(StackConfig(metrics=False): no bridge, no Prometheus, no Alertmanager, Airflow's StatsD off). On each, after
a warm-up run: the stack idles IDLE_S seconds under a CpuWindow (every component's CPU), then
`analysis_runs` comprehensive_analysis runs one after another, each timed trigger → success.

Targets: the three metrics processes use at most 3 % of the stack's CPU at idle, and the runs' median
trigger → success with metrics is within the noise of the one without (the ratio is printed; one run each,
same machine, same song).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from load.bench.airflow_runs import BenchStack
from load.bench.cpu import CpuWindow
from load.bench.dags import DagParams
from load.bench.report import Figure, Section, Target
from stack.config import StackConfig
from stack.local_stack import LocalStack
from stack.observability import COMPONENTS as METRICS_COMPONENTS

IDLE_S = 60.0
SETTLE_S = 20.0  # after the start: the first DAG parses and the services' warm-up are not idle
DAG = "comprehensive_analysis"


def _one_stack(state_dir: Path, metrics: bool, song: str, runs: int, idle_s: float, say) -> dict[str, Any]:
    config = StackConfig(profile="celery", state_dir=state_dir, fixed_ports=False, timeout=300.0, metrics=metrics)
    progress = lambda line: say(f"  {line.strip()}")  # noqa: E731
    conf = {"song_id": "bench_metrics", "song_path": song}
    with BenchStack(state_dir, progress, stack=LocalStack(config, progress=progress)) as bench:
        bench.run(DAG, conf)  # warm-up, not counted
        time.sleep(SETTLE_S)
        with CpuWindow(bench.stack) as idle:
            time.sleep(idle_s)
        walls = []
        for i in range(1, runs + 1):
            walls.append(bench.run(DAG, conf).wall)
            say(f"  metrics {'on' if metrics else 'off'}: run {i}/{runs} trigger→success {walls[-1]:.2f} s")
    return {"idle": idle.result, "walls": walls}


def metrics_cost(
    root: Path, song: str, params: DagParams, say: Callable[[str], None], idle_s: float = IDLE_S
) -> Section:
    on = _one_stack(root / "metrics-on", True, song, params.analysis_runs, idle_s, say)
    off = _one_stack(root / "metrics-off", False, song, params.analysis_runs, idle_s, say)
    components = on["idle"]["components"]
    stack_cpu = sum(components.values())
    metrics_cpu = sum(components.get(name, 0.0) for name in METRICS_COMPONENTS)
    share = 100.0 * metrics_cpu / stack_cpu if stack_cpu else 0.0
    wall_on, wall_off = statistics.median(on["walls"]), statistics.median(off["walls"])
    idle_wall = on["idle"]["wall_s"]
    pairs = zip(on["walls"], off["walls"], strict=True)
    details = [
        f"Idle {idle_wall:.0f} s with metrics: the stack used {stack_cpu:.2f} CPU-s "
        f"({stack_cpu / idle_wall:.3f} cores); the metrics processes {metrics_cpu:.2f} CPU-s:",
        "",
        "| component | CPU-s at idle |",
        "|---|---|",
        *[f"| {name} | {components.get(name, 0.0):.2f} |" for name in METRICS_COMPONENTS],
        "",
        "| comprehensive_analysis trigger→success | metrics on | metrics off |",
        "|---|---|---|",
        *[f"| run {i} | {a:.2f} s | {b:.2f} s |" for i, (a, b) in enumerate(pairs, 1)],
        f"| median | {wall_on:.2f} s | {wall_off:.2f} s |",
    ]
    return Section(
        key="metrics",
        title="What metrics cost (statsd bridge, Prometheus, Alertmanager)",
        figures=[
            Figure("metrics' share of the idle stack's CPU", share, "%", Target("<=", 3.0)),
            Figure("metrics processes at idle", metrics_cpu / idle_wall, "cores"),
            Figure(
                "analysis trigger→success, metrics on ÷ off (median)",
                wall_on / wall_off if wall_off else 0.0,
                "x",
                note=f"{wall_on:.2f} s vs {wall_off:.2f} s, {params.analysis_runs} runs each",
            ),
            # the fastest run of each is the least disturbed by whatever else shares the machine
            Figure(
                "analysis trigger→success, metrics on ÷ off (fastest run)",
                min(on["walls"]) / min(off["walls"]) if off["walls"] else 0.0,
                "x",
                note=f"{min(on['walls']):.2f} s vs {min(off['walls']):.2f} s",
            ),
        ],
        method=__doc__.split("\n\n", 1)[1].strip(),
        limits="One run of each stack on a shared 2-core machine: a latency ratio within ±10 % is noise here.",
        details=details,
    )
