"""`make demo`'s stack timed like the analysis benchmark: the "embedded" profile (SQLite + LocalExecutor, the
settings `python -m stack.demo` starts), on its own data root, after the celery stack is down.

One figure with a target: comprehensive_analysis trigger→success, median of DagParams.analysis_runs runs after a
warm-up (the run's end_date minus the moment before the trigger, as in the analysis section). No model is trained
first, so hit_prediction answers with the built-in baseline; `make demo` trains one, and since the prediction
service imports scikit-learn at start, the first prediction of a new model costs it ~20 ms more, not ~1 s.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from load.bench import dags, data
from load.bench.airflow_runs import BenchStack
from load.bench.report import Section
from stack.config import StackConfig
from stack.local_stack import LocalStack

DEMO_TARGET_S = 4.0  # comprehensive_analysis trigger→success on make demo's stack
TITLE = "make demo's stack: comprehensive_analysis (SQLite, LocalExecutor)"


def demo_section(run_dir: Path, params: dags.DagParams, say: Callable[[str], None]) -> Section:
    state = run_dir / "demo"
    song = data.analysis_song(state / "data", params.analysis_song_seconds)
    say(f"▶ make demo's stack (embedded profile: SQLite + LocalExecutor) in {state}")

    def progress(line: str) -> None:
        say(f"  {line.strip()}")

    stack = LocalStack(StackConfig(profile="embedded", state_dir=state, fixed_ports=False), progress=progress)
    with BenchStack(state, progress=progress, stack=stack) as bench:
        return dags.comprehensive(
            bench,
            song,
            params,
            say,
            key="demo",
            title=TITLE,
            label="make demo: comprehensive_analysis",
            wall_target=DEMO_TARGET_S,
        )
