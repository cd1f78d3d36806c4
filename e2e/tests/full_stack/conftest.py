"""One full stack for every test in this package: the compose topology, brought up once, torn down after.

`E2E_BACKEND=auto|docker|local` picks the backend (auto: docker when a daemon answers, else local
processes). Either runs two Celery workers (`--scale airflow-worker=2`, or two worker processes with
their own hostnames), so the tests also prove that work spreads over scaled workers. Every component's
log stays under artifacts/e2e/<backend>-<time>/logs/ (git-ignored) so a failure can be read after the
stack is gone; the last few runs are kept.

The data the tests need is synthesized into the stack's data root once: a song with a lyrics sidecar,
a corrupt file, a folder for batch_analysis, a raw dataset whose rows need feature extraction.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.audio import synth_song, write_truncated
from fixtures.lyrics import UPBEAT_POP, write_sidecar
from fixtures.songs_dataset import make_raw_dataset
from stack.backend import DockerUnavailable, make_stack, resolve_backend
from stack.base import Stack
from stack.client import AirflowClient
from stack.config import StackConfig
from stack.host_user import ensure_host_user
from stack.memory import PeakMemory
from stack.paths import ARTIFACTS as ARTIFACTS_ROOT

ARTIFACTS = ARTIFACTS_ROOT / "e2e"
KEEP_RUNS = 3
DAG_IDS = (
    "comprehensive_analysis",
    "ml_training_smart_ensemble",
    "dataset_triggered_training",
    "batch_analysis",
    "daily_model_training",
    "train_on_new_dataset",
    "rescore_library",
)
SONG_ID, SONG_PATH = "e2e_song", "songs/e2e_song.wav"
CORRUPT_PATH = "songs/e2e_corrupt.wav"
BATCH_FOLDER, BATCH_SONGS = "songs/e2e_batch", 8  # enough mapped tasks that both workers get some
WORKERS = 2
RAW_DATASET, RAW_SONGS = "e2e_raw", 24  # training needs ≥ 20 rows
# comprehensive_analysis' deadline on the test stacks: a good run takes seconds, the outage test outlasts it.
DEADLINE_S = 30.0
AUDIO_MAX_QUEUE = 4  # workflow-audio's bounded queue, small: overload turns into 429s the operators retry


def pytest_terminal_summary(terminalreporter) -> None:
    """The DAG-params fuzz's counts (test_param_fuzz.py), at the end of a session that ran it."""
    fuzz = sys.modules.get("e2e.param_fuzz")
    if fuzz is None or not fuzz.REPORTS:
        return
    terminalreporter.section("invalid confs sent per DAG")
    for report in fuzz.REPORTS:
        terminalreporter.write_line(str(report))
    terminalreporter.write_line(f"total: {sum(r.sent for r in fuzz.REPORTS)} invalid confs")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(900))
    mine = [item for item in items if here in Path(item.fspath).parents]
    if mine and resolve_backend() == "local":  # tests of the compose stack itself: they run in the docker pass
        docker_only = [item for item in mine if item.get_closest_marker("docker_only")]
        if docker_only:
            config.hook.pytest_deselected(items=docker_only)
            items[:] = [item for item in items if item not in docker_only]


def _state_dir(backend: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    earlier = sorted(ARTIFACTS.glob(f"{backend}-*"))
    for old in earlier[: max(0, len(earlier) - (KEEP_RUNS - 1))]:  # keep the newest runs' logs
        shutil.rmtree(old, ignore_errors=True)
    return ARTIFACTS / f"{backend}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"


def _synthesize(root: Path) -> None:
    song = synth_song(root / SONG_PATH, bpm=124, tonic="A", scale="minor", seconds=20)
    write_sidecar(song, UPBEAT_POP)
    write_truncated(song, root / CORRUPT_PATH, keep_bytes=4096)
    for i in range(BATCH_SONGS):
        synth_song(root / BATCH_FOLDER / f"batch_{i}.wav", bpm=100 + 10 * i, seconds=8, seed=i)
    make_raw_dataset(root, RAW_DATASET, n_songs=RAW_SONGS, seconds=5.0)


@pytest.fixture(scope="package")
def stack() -> Stack:
    backend = resolve_backend()
    state_dir = _state_dir(backend)
    try:
        config = StackConfig(
            profile="celery",
            state_dir=state_dir,
            workers=WORKERS,
            airflow_env={"HSS_ANALYSIS_DEADLINE_S": f"{DEADLINE_S:g}"},
            service_env={"HSS_AUDIO_MAX_QUEUE": str(AUDIO_MAX_QUEUE)},
            # the containers run as a non-root host user, as on a laptop (CI runs as root)
            airflow_uid=ensure_host_user().uid if backend == "docker" else None,
        )
        full_stack = make_stack(backend, config)
    except DockerUnavailable as exc:
        pytest.skip(f"docker backend: {exc}")  # the one allowed skip: E2E_BACKEND=docker without a daemon
    started = time.monotonic()
    full_stack.up()
    print(f"\n{backend} stack up in {time.monotonic() - started:.1f} s; logs in {state_dir / 'logs'}")
    try:
        with PeakMemory(full_stack.memory_bytes) as memory:
            _synthesize(full_stack.data_root)
            yield full_stack
        print(f"\npeak memory of the {backend} stack: {memory.peak / 2**30:.2f} GiB ({memory.samples} samples)")
    finally:
        full_stack.down()


@pytest.fixture(scope="package")
def client(stack: Stack) -> AirflowClient:
    client = AirflowClient(stack.airflow_url, stack.username, stack.password)
    client.wait_for_dags(DAG_IDS, timeout=180)
    return client
