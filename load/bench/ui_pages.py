"""The /hss list pages with a large library: 1,000 analysed songs and 100 trainings in a temp data root.

The app is served by TestClient behind Airflow's auth manager, as the api-server mounts it, in a child
process with its own AIRFLOW_HOME (migrated first: a login check looks up revoked tokens there); the
result files have the shape comprehensive_analysis writes (the audio part with its ~650 features, which is
what makes parsing them cost). Timed: the first visit (every file parsed) and the median of warm visits
(the summaries cached by mtime and size, so only a stat per file), for page 1 and the last page.

    python -m load.bench --only ui        (or: python -m load.bench.ui_pages)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from contracts.data_layout import SONGS, DataLayout
from load.bench.report import Figure, Section, Target

TARGET_MS = 300.0
FEATURES = 650


def write_library(root: Path, songs: int, trainings: int) -> None:
    layout = DataLayout(root)
    features = {f"lowlevel.feature_{i}.mean": i / 7 for i in range(FEATURES)}
    for i in range(songs):
        stamp = f"2026-12-01T{i % 24:02d}:00:00"
        doc = {
            "song_id": f"song_{i:04d}",
            "song_path": f"{SONGS}/song_{i:04d}.wav",
            "run": {
                "dag_id": "comprehensive_analysis",
                "run_id": f"manual__{i}",
                "written_at": stamp,
            },
            "audio": {"features": features, "highlights": {"tempo_bpm": 120.0, "key": "C", "scale": "major"}},
            "content": {"features": {}, "sentiment": {"label": "neutral", "compound": 0.0}},
            "prediction": {"hit_probability": (i % 97) / 97, "model_version": "m@1", "explanations": []},
            "insights": {"summary": "", "recommendations": []},
        }
        folder = layout.song_results_of(f"song_{i:04d}")
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(doc))
    for i in range(trainings):
        folder = layout.training_report_of(f"t{i:03d}")
        folder.mkdir(parents=True)
        report = {"training_id": f"t{i:03d}", "model_version": f"t{i:03d}@1", "ensemble": {"auc": 0.8}, "n_rows": 200}
        (folder / "report.json").write_text(json.dumps(report))


def timed(get: Callable[[], int], repeat: int) -> tuple[float, float]:
    """(first call ms, median of `repeat` further calls ms); each call must answer 200."""
    samples = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        status = get()
        samples.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"the page answered {status}")
    return samples[0], statistics.median(samples[1:])


def measure(songs: int, trainings: int, repeat: int) -> dict[str, float]:
    """In this process (AIRFLOW_HOME set and migrated by the caller): the timings in ms."""
    from airflow.api_fastapi.app import get_auth_manager, init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from hss_airflow.web.app import PER_PAGE, build_app
    from hss_airflow.web.library import Library

    with tempfile.TemporaryDirectory(prefix="hss-ui-bench-") as tmp:
        root = Path(tmp)
        write_library(root, songs, trainings)
        server = FastAPI()
        init_auth_manager(server)
        server.mount("/hss", build_app(Library(root)))
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
        client = TestClient(server, cookies={"_token": token})
        last = -(-songs // PER_PAGE)
        first_ms, warm_ms = timed(lambda: client.get("/hss/songs?sort=probability").status_code, repeat)
        _, last_ms = timed(lambda: client.get(f"/hss/songs?sort=song&page={last}").status_code, repeat)
        _, training_ms = timed(lambda: client.get("/hss/training").status_code, repeat)
    return {"first_ms": first_ms, "warm_ms": warm_ms, "last_ms": last_ms, "training_ms": training_ms, "last": last}


def ui_section(say: Callable[[str], None], songs: int = 1000, trainings: int = 100, repeat: int = 20) -> Section:
    with tempfile.TemporaryDirectory(prefix="hss-ui-bench-home-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/a.db"}
        say("  a throwaway Airflow metadata DB (airflow db migrate)…")
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
        say(f"  {songs} result files ({FEATURES} features each), {trainings} reports; timing the pages…")
        argv = [sys.executable, "-m", "load.bench.ui_pages", "--songs", str(songs), "--trainings", str(trainings)]
        done = subprocess.run([*argv, "--repeat", str(repeat)], env=env, check=True, capture_output=True, text=True)
    data = json.loads(done.stdout.strip().splitlines()[-1])
    target = Target("<=", TARGET_MS)
    figures = [
        Figure(f"/hss/songs, {songs} songs, warm (median of {repeat})", data["warm_ms"], "ms", target),
        Figure(f"/hss/songs last page ({data['last']}), warm", data["last_ms"], "ms", target),
        Figure(f"/hss/training, {trainings} trainings, warm", data["training_ms"], "ms", target),
        Figure("/hss/songs, first visit (every file parsed once)", data["first_ms"], "ms", note="per process"),
    ]
    for f in figures:
        say(f"  {f.name}: {f.value:.0f} ms")
    return Section(
        key="ui",
        title=f"Result pages with {songs} analysed songs",
        figures=figures,
        method=(
            "TestClient against the /hss app behind Airflow's auth manager (a real JWT cookie, the revoked-token "
            f"lookup in a migrated SQLite DB); result files of the DAGs' shape with {FEATURES} audio features each."
        ),
        limits="The first visit parses every file; later ones stat each file and reuse the cached summary.",
        data={"songs": songs, "trainings": trainings, **data},
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.bench.ui_pages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=1000)
    parser.add_argument("--trainings", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    if "AIRFLOW_HOME" not in os.environ:  # run by hand: the section makes the throwaway home and measures
        ui_section(print, args.songs, args.trainings, args.repeat)
        return
    print(json.dumps(measure(args.songs, args.trainings, args.repeat)))


if __name__ == "__main__":
    main()
