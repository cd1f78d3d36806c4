"""`make soak` — the Locust mix plus DAG runs for SOAK_MIN minutes, then errors, run states and memory growth.

    python -m load.soak [--minutes 10] [--stack-file .stack/stack.json]

Against the `make up` stack (started when none runs, as `make load`): Locust runs the `soak` profile of
load/profiles.toml (every user class; AirflowUser triggers comprehensive_analysis runs without pause) for the
given minutes, while a second driver triggers ml_training_smart_ensemble every TRAIN_EVERY_S (promotion
`never`: the served model stays the one the prediction users' payloads fit). Every SAMPLE_EVERY_S it records
each process's memory (local: PSS per process group, read from stack.json again each time, so a restarted
component is followed; docker: `docker stats` per container).

Afterwards it waits for the runs it caused to finish and judges three targets:
  errors      Locust failures = 0;
  runs        every DAG run started during the soak succeeded;
  memory      each process grew less than MAX_GROWTH (10 %) from the end of the warm-up (the first
              WARMUP_FRACTION of the soak, at least a minute) to the end — ignoring growth under
              NOISE_FLOOR_BYTES, which is allocator noise on a small process, not a leak.
The summary (also load/reports/soak-<UTC time>/soak.json) is what docs/RELIABILITY.md quotes; the exit code is 1
when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from contracts.data_layout import TRAINING_DATA
from fixtures.datasets import make_features_dataset
from load import targets
from load.run import LoadError, ensure_stack, measure, print_result
from stack.backend import recorded_stack
from stack.client import AirflowClient
from stack.config import StackConfig
from stack.waiting import wait_until

SAMPLE_EVERY_S = 15.0
TRAIN_EVERY_S = 180.0
WARMUP_FRACTION, MIN_WARMUP_S = 0.2, 60.0
MAX_GROWTH = 0.10
NOISE_FLOOR_BYTES = 8 * 2**20
RUNS_SETTLE_S = 600.0
TRAINING_DATASET = f"{TRAINING_DATA}/soak_features.csv"
SOAK_DAGS = ("comprehensive_analysis", "ml_training_smart_ensemble", "rescore_library", "batch_analysis")


def say(message: str) -> None:
    print(message, flush=True)


def process_memory(stack_file: Path) -> dict[str, float]:
    """name → bytes for every process (local) or container (docker) of the stack now."""
    info = json.loads(stack_file.read_text())
    config = StackConfig(state_dir=stack_file.parent)
    return recorded_stack(info, config, progress=lambda _: None).memory_by_component(info)


@dataclass
class Sampler:
    stack_file: Path
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, started: float) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError):  # stack.json being rewritten: the next sample
                self.samples.append((time.monotonic() - started, process_memory(self.stack_file)))
            if self._stop.wait(SAMPLE_EVERY_S):
                return

    def stop(self) -> None:
        self._stop.set()

    def at(self, elapsed: float) -> dict[str, float]:
        """The first sample taken at or after `elapsed` seconds (the last one if none)."""
        return next((values for t, values in self.samples if t >= elapsed), self.samples[-1][1])


def trainings(client: AirflowClient, stop: threading.Event) -> None:
    """Trigger a training every TRAIN_EVERY_S until `stop` (the first one at once)."""
    while not stop.is_set():
        training_id = f"soak_{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
        conf = {"dataset_path": TRAINING_DATASET, "training_id": training_id, "promotion": "never"}
        try:
            client.trigger("ml_training_smart_ensemble", conf, run_id=training_id)
        except Exception as exc:  # no run, so the run-state check cannot see it: say it
            say(f"  could not trigger a training: {exc}")
        stop.wait(TRAIN_EVERY_S)


def runs_since(client: AirflowClient, since: datetime) -> dict[str, dict[str, str]]:
    """dag_id → {run_id: state} of the runs queued since `since`."""
    found: dict[str, dict[str, str]] = {}
    for dag_id in SOAK_DAGS:
        runs = client.list_runs(dag_id, limit=1000)
        found[dag_id] = {r.dag_run_id: r.state.value for r in runs if r.queued_at and r.queued_at >= since}
    return found


def settle(client: AirflowClient, since: datetime) -> dict[str, dict[str, str]]:
    """Wait until no run of the soak is queued or running (up to RUNS_SETTLE_S); return the final states."""
    states: dict[str, dict[str, str]] = {}

    def settled() -> bool:
        nonlocal states
        states = runs_since(client, since)
        open_runs = [r for runs in states.values() for r, s in runs.items() if s in ("queued", "running")]
        if open_runs:
            say(f"  waiting for {len(open_runs)} run(s) of the soak to finish…")
        return not open_runs

    wait_until(settled, RUNS_SETTLE_S, 15.0, "the soak's runs finished", raise_on_timeout=False)
    return states


def memory_rows(sampler: Sampler, warmup_s: float) -> list[dict]:
    start, warm, end = sampler.samples[0][1], sampler.at(warmup_s), sampler.samples[-1][1]
    rows = []
    for name in sorted(end):
        w, e = warm.get(name, 0.0), end[name]
        growth = (e - w) / w if w else 0.0
        rows.append(
            {
                "process": name,
                "start_mib": start.get(name, 0.0) / 2**20,
                "warm_mib": w / 2**20,
                "end_mib": e / 2**20,
                "growth": growth,
                "ok": growth < MAX_GROWTH or e - w < NOISE_FLOOR_BYTES,
            }
        )
    return rows


def summarize(load, states: dict[str, dict[str, str]], rows: list[dict], minutes: float) -> dict:
    total = load.stats.get(targets.AGGREGATED)
    by_state: dict[str, dict[str, int]] = {}
    for dag_id, runs in states.items():
        for state in runs.values():
            by_state.setdefault(dag_id, {}).setdefault(state, 0)
            by_state[dag_id][state] += 1
    bad_runs = {f"{d}/{r}": s for d, runs in states.items() for r, s in runs.items() if s != "success"}
    return {
        "minutes": minutes,
        "requests": total.requests if total else 0,
        "failures": total.failures if total else 0,
        "runs": by_state,
        "runs_not_succeeded": bad_runs,
        "memory": rows,
        "passed": {
            "errors": bool(total) and total.failures == 0,
            "runs": not bad_runs and any(by_state.values()),
            "memory": all(row["ok"] for row in rows),
        },
    }


def print_summary(summary: dict) -> None:
    say(f"\nsoak of {summary['minutes']:g} min: {summary['requests']} requests, {summary['failures']} failures")
    for dag_id, counts in summary["runs"].items():
        say(f"  {dag_id:<28} {', '.join(f'{s}: {n}' for s, n in sorted(counts.items())) or 'no runs'}")
    for run, state in summary["runs_not_succeeded"].items():
        say(f"  not succeeded: {run} ({state})")
    say(f"\n  {'process':<26} {'start MiB':>10} {'warm MiB':>10} {'end MiB':>10} {'growth':>8}")
    for row in summary["memory"]:
        flag = "" if row["ok"] else "  ← over 10 %"
        say(
            f"  {row['process']:<26} {row['start_mib']:>10.1f} {row['warm_mib']:>10.1f} {row['end_mib']:>10.1f} "
            f"{row['growth']:>+7.1%}{flag}"
        )
    for target, passed in summary["passed"].items():
        say(f"  {'PASS' if passed else 'FAIL'}  {target}")


def soak(minutes: float, stack_file: Path) -> int:
    info = ensure_stack(stack_file)
    make_features_dataset(targets.data_root(info) / TRAINING_DATASET, n_rows=300, seed=41)
    airflow = info["airflow"]
    client = AirflowClient(targets.target_url(info, "airflow"), airflow["username"], airflow["password"])
    since, started = datetime.now(UTC), time.monotonic()
    sampler, stop = Sampler(stack_file), threading.Event()
    threads = [
        threading.Thread(target=sampler.run, args=(started,), daemon=True),
        threading.Thread(target=trainings, args=(client, stop), daemon=True),
    ]
    for thread in threads:
        thread.start()
    say(f"soak: {minutes:g} min of the Locust mix plus a training every {TRAIN_EVERY_S:.0f} s")
    try:
        load = measure("soak", info, run_time=f"{int(minutes * 60)}s")
    finally:
        stop.set()
    sampler.stop()
    print_result(load)
    client.login()  # the token may have expired during a long soak
    states = settle(client, since)
    warmup_s = max(MIN_WARMUP_S, WARMUP_FRACTION * minutes * 60)
    summary = summarize(load, states, memory_rows(sampler, warmup_s), minutes)
    series = [[round(t), {name: round(b / 2**20, 1) for name, b in values.items()}] for t, values in sampler.samples]
    summary.update(backend=info.get("backend", "local"), warmup_s=warmup_s, memory_series_mib=series)
    (load.report_dir / "soak.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print_summary(summary)
    took = time.monotonic() - started
    say(f"\nreport: {load.report_dir / 'soak.json'} (Locust's reports beside it); the soak took {took:.0f} s")
    return 0 if all(summary["passed"].values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default 10)")
    parser.add_argument("--stack-file", type=Path, default=targets.DEFAULT_STACK_FILE)
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error(f"--minutes must be positive, got {args.minutes}")
    try:
        return soak(args.minutes, args.stack_file.resolve())
    except (LoadError, targets.TargetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
