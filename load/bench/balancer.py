"""workflow-audio's balancer, measured: `python -m load.bench.balancer [--songs 8] [--calls 300] [--write-docs]`.

Against the running `make up AUDIO_REPLICAS=2` (or more) stack on the local backend, whose stack.json names
each replica's URL (compose's replicas publish no port):

- split: a batch_analysis of `--songs` synthesized songs (chunk_size 1: the hss_audio pool keeps two requests in
  flight); each replica's own /metrics (`http_requests_total` of POST /analyze/comprehensive) before and after
  give the requests per replica and the largest share.
- overhead: `--calls` GET /health through the balancer and straight to a replica, interleaved (drift of a noisy
  machine hits both alike); the medians and their difference are what the balancer adds to a request.

--write-docs puts the table into docs/SCALING.md between its balancer-figures markers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import requests

from fixtures.audio import synth_song
from stack.client import AirflowClient
from stack.paths import REPO_ROOT, STACK_FILE
from stack.service_metrics import analyses_served
from stack.stack_file import read_stack_file

DOCS = REPO_ROOT / "docs" / "SCALING.md"
BEGIN, END = "<!-- balancer-figures -->", "<!-- /balancer-figures -->"
FOLDER = "songs/bench_balancer"


def measure_split(info: dict, replicas: list[str], songs: int, seconds: float) -> dict:
    data_root = Path(info["data_root"])
    for index in range(songs):
        path = data_root / FOLDER / f"song_{index}.wav"
        if not path.exists():
            synth_song(path, bpm=90 + 7 * index, seconds=seconds, seed=200 + index)
    airflow = info["airflow"]
    client = AirflowClient(airflow["url"], airflow["username"], airflow["password"])
    client.wait_for_dags(["batch_analysis"])  # a stack just started may not have parsed it yet
    before = {url: analyses_served(url) for url in replicas}
    started = time.monotonic()
    run = client.trigger("batch_analysis", {"folder": FOLDER, "pattern": "*.wav", "chunk_size": 1})
    final = client.wait_for_run("batch_analysis", run.dag_run_id, timeout=900)
    wall = time.monotonic() - started
    if final.state.value != "success":
        raise SystemExit(f"batch_analysis {run.dag_run_id} ended {final.state.value}: no split to report")
    split = {url: analyses_served(url) - before[url] for url in replicas}
    return {"split": split, "largest_share": max(split.values()) / max(sum(split.values()), 1), "wall_s": wall}


def measure_overhead(balancer: str, replica: str, calls: int) -> dict:
    """Median seconds of GET /health through the balancer and straight to one replica, interleaved; each side
    keeps its connection open, as the hook's session does."""
    sides = {"balancer": (balancer, requests.Session(), []), "direct": (replica, requests.Session(), [])}
    for _ in range(calls):
        for url, session, times in sides.values():
            started = time.perf_counter()
            session.get(f"{url}/health", timeout=5).raise_for_status()
            times.append(time.perf_counter() - started)
    medians = {name: statistics.median(times) for name, (_, _, times) in sides.items()}
    return {**medians, "added_ms": (medians["balancer"] - medians["direct"]) * 1000, "calls": calls}


def table(split: dict, overhead: dict, songs: int, load: tuple[float, float, float]) -> str:
    shares = ", ".join(str(n) for n in split["split"].values())
    return "\n".join(
        [
            "| figure | target | measured |",
            "| --- | --- | --- |",
            f"| a batch of {songs} songs over {len(split['split'])} replicas: analyses per replica | within 60/40 "
            f"| {shares} (largest share {split['largest_share']:.0%}; batch {split['wall_s']:.1f} s) |",
            f"| balancer's added latency per request (median of {overhead['calls']} interleaved GET /health) | small "
            f"against seconds of Essentia | {overhead['added_ms']:.2f} ms ({overhead['balancer'] * 1000:.2f} ms "
            f"through it, {overhead['direct'] * 1000:.2f} ms direct) |",
            "",
            f"Load average at the start: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (2 cores).",
        ]
    )


def write_docs(text: str, path: Path = DOCS) -> None:
    doc = path.read_text()
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench.balancer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each synthesized song")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--stack-file", type=Path, default=STACK_FILE)
    parser.add_argument("--write-docs", action="store_true", help="put the table into docs/SCALING.md")
    args = parser.parse_args(argv)
    info = read_stack_file(args.stack_file) or {}
    replicas = (info.get("balancer") or {}).get("replicas") or []
    if info.get("backend") != "local" or len(replicas) < 2:
        print(
            f"needs a local `make up AUDIO_REPLICAS=2` (or more) stack: {args.stack_file} names "
            f"{len(replicas)} replica URL(s) on the {info.get('backend') or 'no'} backend "
            "(compose's replicas publish no port; read their split in Prometheus, job hss-services)",
            file=sys.stderr,
        )
        return 2
    load = os.getloadavg()
    overhead = measure_overhead(info["balancer"]["url"], replicas[0], args.calls)
    split = measure_split(info, replicas, args.songs, args.seconds)
    text = table(split, overhead, args.songs, load)
    print(text)
    if args.write_docs:
        write_docs(text)
        print(f"wrote {DOCS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
