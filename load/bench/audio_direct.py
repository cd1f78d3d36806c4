"""Essentia called directly vs through workflow-audio: `python -m load.bench.audio_direct [mode] [--json]`.

Why: the service must cost little on top of MusicExtractor itself, and its worker pool must turn cores
into throughput. Three modes, all on synthesized songs in a temporary data root, against the real
service (uvicorn on a free port of 127.0.0.1, in its own process, log in the temp dir):

    python -m load.bench.audio_direct [--runs 5] [--seconds 30] [--songs 1]
        overhead: MusicExtractor called directly in this process, then POST /analyze/comprehensive on the
        same file, alternating (interleaved, so drift of a noisy machine hits both alike); medians and the
        overhead ratio service/direct (the median of the per-pair ratios).
    python -m load.bench.audio_direct --scaling [--pool-sizes 1,2] [--songs 8] [--seconds 20] [--clients 4]
        pool scaling: one service per HSS_AUDIO_POOL_SIZE, all started together (idle workers cost no
        CPU), then rounds alternating between them: `--clients` concurrent requests over `--songs` songs,
        throughput in songs/s; plus the direct seconds per song on one core, which gives the
        Essentia-bound limit of this machine (cores / seconds per song).
    python -m load.bench.audio_direct --direct FILE [FILE ...] [--runs 1]
        seconds per song of MusicExtractor on one core, on existing files (load/bench uses it for the
        limit of batch_analysis on the very songs the DAG analyses).

With --json the result is one JSON object on stdout and the progress lines go to stderr.
load/bench/audio.py runs this as a process. It is the one module of load/ that imports services/
(services.audio.extractor, for the service's MusicExtractor options), and only in that process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from contracts.catalog import AUDIO_ANALYZE
from contracts.data_layout import SONGS
from load.bench.cpu import machine_busy_s, own_tree_cpu_s
from stack.processes import free_port, tail
from stack.waiting import WaitTimeout, answers, wait_until

SONG_BPMS = (96, 104, 112, 120, 128, 136, 144, 152)
SONG_TONICS = ("C", "D", "E", "F", "G", "A")


def _wait_ready(base: str, server: subprocess.Popen, log: Path, within_s: float = 180.0) -> float:
    started = time.perf_counter()

    def ready() -> bool:
        if server.poll() is not None:
            raise SystemExit(f"the service exited with {server.returncode} before it was ready:\n{tail(log, 20)}")
        return answers(f"{base}/ready", timeout=2)

    try:
        wait_until(ready, timeout=within_s, interval=0.1, what="workflow-audio /ready")
    except WaitTimeout:
        raise SystemExit(f"the service was not ready within {within_s} s:\n{tail(log, 20)}") from None
    return time.perf_counter() - started


@contextlib.contextmanager
def running_service(root: Path, pool_size: int, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """workflow-audio on a free port with HSS_AUDIO_POOL_SIZE=pool_size, on 127.0.0.1 without an API key (the
    explicit development flag: the bench measures Essentia, not auth); stopped on exit."""
    port = free_port()
    env = {**os.environ, "HSS_DATA_ROOT": str(root), "HSS_AUDIO_POOL_SIZE": str(pool_size)}
    env.pop("HSS_API_KEY", None)
    env["HSS_ALLOW_NO_API_KEY"] = "true"
    argv = [sys.executable, "-m", "uvicorn", "services.audio.app:app", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        server = subprocess.Popen([*argv, "--log-level", "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _quiet_essentia() -> Any:
    import essentia

    essentia.log.infoActive = False  # before essentia.standard, which logs "no classifier models" on import
    essentia.log.warningActive = False
    import essentia.standard as es

    return es


def direct_seconds(path: Path | str) -> float:
    """One MusicExtractor call in this process (one core), with the service's options."""
    from services.audio.extractor import EXTRACTOR_OPTIONS

    es = _quiet_essentia()
    started = time.perf_counter()
    es.MusicExtractor(**EXTRACTOR_OPTIONS)(str(path))
    return time.perf_counter() - started


def service_call(base: str, rel_path: str, song_id: str = "bench") -> tuple[float, float]:
    """POST /analyze/comprehensive; (seconds seen by the client, seconds in the worker)."""
    started = time.perf_counter()
    response = requests.post(base + AUDIO_ANALYZE.path, json={"song_id": song_id, "song_path": rel_path}, timeout=600)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{AUDIO_ANALYZE} answered {response.status_code}: {response.text[:500]}")
    return seconds, float(response.json()["analysis_seconds"])


def synth_songs(root: Path, count: int, seconds: float) -> list[str]:
    """`count` distinct synthesized songs in the data root's songs folder; their paths relative to root."""
    from fixtures.audio import synth_song

    rel = []
    for i in range(count):
        path = f"{SONGS}/bench_{i:02d}.wav"
        bpm, tonic = SONG_BPMS[i % len(SONG_BPMS)], SONG_TONICS[i % len(SONG_TONICS)]
        synth_song(root / path, bpm=bpm, tonic=tonic, seconds=seconds, seed=i)
        rel.append(path)
    return rel


# --- the three modes ------------------------------------------------------------------------------


def overhead(runs: int, seconds: float, songs: int, say: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hss-audio-bench-") as tmp:
        root = Path(tmp) / "data"
        files = synth_songs(root, songs, seconds)
        with running_service(root, 1, Path(tmp) / "service.log") as (base, server):
            ready = _wait_ready(base, server, Path(tmp) / "service.log")
            say(f"service ready after {ready:.2f} s (pool_size=1, {songs} song(s) of {seconds:g} s)")
            direct_seconds(root / files[0])  # warm-up: first-call costs (imports, caches) on both sides
            service_call(base, files[0])
            pairs = []
            for run in range(1, runs + 1):
                for rel in files:
                    d = direct_seconds(root / rel)
                    s, w = service_call(base, rel)
                    pairs.append({"file": rel, "direct": d, "service": s, "in_worker": w})
                    say(f"run {run} {rel}: direct {d:.3f} s   service {s:.3f} s   (in the worker {w:.3f} s)")
    direct = statistics.median(p["direct"] for p in pairs)
    service = statistics.median(p["service"] for p in pairs)
    return {
        "kind": "overhead",
        "runs": runs,
        "songs": songs,
        "song_seconds": seconds,
        "pairs": pairs,
        "direct_median": direct,
        "service_median": service,
        "in_worker_median": statistics.median(p["in_worker"] for p in pairs),
        "overhead_ratio": statistics.median(p["service"] / p["direct"] for p in pairs),
        "ratio_of_medians": service / direct,
    }


def _round(base: str, files: list[str], clients: int) -> tuple[float, float]:
    """All `files` through the service with `clients` requests in flight: (songs per second, the
    cores other processes of the machine used meanwhile, on average)."""
    busy, own, started = machine_busy_s(), own_tree_cpu_s(), time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda item: service_call(base, item[1], f"song_{item[0]}"), enumerate(files)))
    wall = time.perf_counter() - started
    others = max(0.0, (machine_busy_s() - busy) - (own_tree_cpu_s() - own)) / wall
    return len(files) / wall, others


def scaling(
    pool_sizes: list[int], songs: int, seconds: float, clients: int, rounds: int, say: Callable[[str], None]
) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="hss-audio-scaling-") as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp) / "data"
        say(f"synthesizing {songs} songs of {seconds:g} s…")
        files = synth_songs(root, songs, seconds)
        services = {}
        for size in pool_sizes:
            log = Path(tmp) / f"service-pool{size}.log"
            services[size] = (*stack.enter_context(running_service(root, size, log)), log)
        for size, (base, server, log) in services.items():
            say(f"service with pool_size={size} ready after {_wait_ready(base, server, log):.2f} s")
            for rel in files[: min(size, len(files))]:  # every worker's first call, not timed
                service_call(base, rel)
        direct_seconds(root / files[0])  # warm-up
        direct = [direct_seconds(root / rel) for rel in files[: min(3, len(files))]]
        per_song = statistics.median(direct)
        say(f"direct MusicExtractor on one core: {per_song:.3f} s per {seconds:g} s song (median of {len(direct)})")
        throughputs: dict[int, list[float]] = {size: [] for size in pool_sizes}
        others: dict[int, list[float]] = {size: [] for size in pool_sizes}
        for r in range(1, rounds + 1):
            for size, (base, _server, _log) in services.items():
                rate, other = _round(base, files, clients)
                throughputs[size].append(rate)
                others[size].append(other)
                say(
                    f"round {r}: pool_size={size}: {rate:.3f} songs/s ({songs} songs, {clients} clients; "
                    f"other processes used {other:.2f} cores meanwhile)"
                )
    medians = {size: statistics.median(values) for size, values in throughputs.items()}
    first, last = pool_sizes[0], pool_sizes[-1]
    return {
        "kind": "scaling",
        "cores": cores,
        "songs": songs,
        "song_seconds": seconds,
        "clients": clients,
        "rounds": rounds,
        "direct_seconds": direct,
        "direct_seconds_per_song": per_song,
        "essentia_limit_songs_per_s": cores / per_song,
        "pools": {
            str(n): {"songs_per_s": throughputs[n], "median_songs_per_s": medians[n], "others_cores": others[n]}
            for n in medians
        },
        "speedup": medians[last] / medians[first],
        "speedup_of": [first, last],
    }


def direct(files: list[Path], runs: int, say: Callable[[str], None]) -> dict[str, Any]:
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise SystemExit(f"no such audio file: {', '.join(missing)}")
    direct_seconds(files[0])  # warm-up
    seconds = []
    for _ in range(runs):
        for path in files:
            seconds.append(direct_seconds(path))
            say(f"direct MusicExtractor {Path(path).name}: {seconds[-1]:.3f} s")
    return {
        "kind": "direct",
        "files": [str(f) for f in files],
        "seconds": seconds,
        "median_seconds_per_song": statistics.median(seconds),
        "cores": os.cpu_count() or 1,
    }


def _print_human(result: dict[str, Any]) -> None:
    if result["kind"] == "overhead":
        print(f"median direct MusicExtractor : {result['direct_median']:.3f} s")
        print(
            f"median service (HTTP)        : {result['service_median']:.3f} s   "
            f"(of which in the worker: {result['in_worker_median']:.3f} s)"
        )
        delta = (result["service_median"] - result["direct_median"]) * 1000
        print(f"overhead ratio service/direct: {result['overhead_ratio']:.3f}   ({delta:+.0f} ms)")
    elif result["kind"] == "scaling":
        for size, pool in result["pools"].items():
            print(f"pool_size={size}: {pool['median_songs_per_s']:.3f} songs/s (median of {result['rounds']})")
        first, last = result["speedup_of"]
        print(f"speedup pool {last} vs {first}: {result['speedup']:.2f}x")
        print(
            f"Essentia-bound limit: {result['cores']} cores / {result['direct_seconds_per_song']:.3f} s per song = "
            f"{result['essentia_limit_songs_per_s']:.3f} songs/s ({result['essentia_limit_songs_per_s'] * 60:.1f}/min)"
        )
    else:
        print(f"median direct MusicExtractor: {result['median_seconds_per_song']:.3f} s per song")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench.audio_direct", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--scaling", action="store_true", help="throughput per HSS_AUDIO_POOL_SIZE")
    mode.add_argument("--direct", nargs="+", type=Path, metavar="FILE", help="direct seconds per song of FILEs")
    parser.add_argument("--runs", type=int, default=None, help="overhead: pairs per song (5); direct: passes (1)")
    parser.add_argument("--seconds", type=float, default=None, help="song length (overhead 30, scaling 20)")
    parser.add_argument("--songs", type=int, default=None, help="songs synthesized (overhead 1, scaling 8)")
    parser.add_argument("--pool-sizes", default="1,2", help="scaling: pool sizes to compare (first = baseline)")
    parser.add_argument("--clients", type=int, default=4, help="scaling: concurrent requests")
    parser.add_argument("--rounds", type=int, default=3, help="scaling: rounds per pool size (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    args = parser.parse_args(argv)
    out = sys.stderr if args.json else sys.stdout
    _quiet_essentia()

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    if args.scaling:
        sizes = [int(x) for x in args.pool_sizes.split(",") if x.strip()]
        if len(sizes) < 2 or min(sizes) < 1:
            parser.error("--pool-sizes needs at least two sizes >= 1, e.g. 1,2")
        result = scaling(sizes, args.songs or 8, args.seconds or 20.0, args.clients, args.rounds, say)
    elif args.direct:
        result = direct(args.direct, args.runs or 1, say)
    else:
        result = overhead(args.runs or 5, args.seconds or 30.0, args.songs or 1, say)
    if args.json:
        print(json.dumps(result))
    else:
        _print_human(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
