"""Overhead of the service over MusicExtractor itself: `python -m services.audio.bench [--runs 5] [--seconds 30]`.

Synthesizes a song into a temporary data root, starts the real service (uvicorn on a free port of
127.0.0.1, its own process), then alternates: MusicExtractor called directly in this process,
POST /analyze/comprehensive over HTTP. Prints the medians and the overhead ratio.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base: str, server: subprocess.Popen, within_s: float = 120.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < within_s:
        if server.poll() is not None:
            raise SystemExit(f"the service exited with {server.returncode} before it was ready")
        try:
            if requests.get(f"{base}/ready", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the service was not ready within {within_s} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the synthesized song")
    args = parser.parse_args(argv)

    import essentia.standard as es

    from fixtures.audio import synth_song
    from services.audio.extractor import EXTRACTOR_OPTIONS

    with tempfile.TemporaryDirectory(prefix="hss-audio-bench-") as tmp:
        root = Path(tmp) / "data"
        song = synth_song(root / "songs" / "bench.wav", seconds=args.seconds)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "HSS_DATA_ROOT": str(root), "HSS_AUDIO_POOL_SIZE": "1"}
        env.pop("HSS_API_KEY", None)
        command = [sys.executable, "-m", "uvicorn", "services.audio.app:app", "--host", "127.0.0.1"]
        server = subprocess.Popen([*command, "--port", str(port), "--log-level", "warning"], env=env)
        try:
            print(f"service ready after {_wait_ready(base, server):.2f} s (pool_size=1, {args.seconds:g} s song)")
            direct, service, inside = [], [], []
            body = {"song_id": "bench", "song_path": "songs/bench.wav"}
            for run in range(1, args.runs + 1):
                started = time.perf_counter()
                es.MusicExtractor(**EXTRACTOR_OPTIONS)(str(song))
                direct.append(time.perf_counter() - started)
                started = time.perf_counter()
                response = requests.post(f"{base}/analyze/comprehensive", json=body, timeout=300)
                service.append(time.perf_counter() - started)
                response.raise_for_status()
                inside.append(response.json()["analysis_seconds"])
                print(f"run {run}: direct {direct[-1]:.3f} s   service {service[-1]:.3f} s")
        finally:
            server.terminate()
            server.wait(timeout=30)
    d, s, w = statistics.median(direct), statistics.median(service), statistics.median(inside)
    print(f"median direct MusicExtractor : {d:.3f} s")
    print(f"median service (HTTP)        : {s:.3f} s   (of which in the worker: {w:.3f} s)")
    print(f"overhead ratio service/direct: {s / d:.3f}   ({(s - d) * 1000:+.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
