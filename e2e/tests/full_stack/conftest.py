"""One full stack for every test in this package: the compose topology, brought up once, torn down after.

`E2E_BACKEND=auto|docker|local` picks the backend (auto: docker when a daemon answers, else local
processes). Either runs two Celery workers (`--scale airflow-worker=2`, or two worker processes with
their own hostnames), so the tests also prove that work spreads over scaled workers. Every component's
log stays under artifacts/e2e/<backend>-<time>/logs/ (git-ignored) so a failure can be read after the
stack is gone; the last few runs are kept.

The data the tests need is synthesized into the stack's data root once: a song with a lyrics sidecar,
a corrupt file, a folder for batch_analysis, a raw dataset whose rows need feature extraction.

The tests that kill, stop, restart or add components (BREAKING_MODULES) run after every other test of their
stack; the others' runs that do not interfere are triggered ahead, together (ahead.py). `make e2e E2E_STACKS=N`
(pytest-xdist `-n N`, the scheduler below keeps each group on its worker) starts N stacks side by side and
LAYOUTS says which breaking modules go to which: the whole suite defaults to two, the runs on the first, most
fault tests on the second; a part of the suite (E2E_STACKS=1) runs everything on one stack, the breaking last.

`make e2e REUSE_STACK=1` runs the tests on the stack `make up` left running, when one answers (REUSE_ENV).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from e2e.tests.full_stack.ahead import RunsAhead
from fixtures.audio import synth_song, write_truncated
from fixtures.lyrics import UPBEAT_POP, write_sidecar
from fixtures.songs_dataset import make_raw_dataset
from stack.attached import AttachedStack, attach
from stack.backend import DockerUnavailable, make_stack, resolve_backend
from stack.base import Stack
from stack.client import AirflowClient
from stack.config import StackConfig
from stack.host_user import ensure_host_user
from stack.memory import PeakMemory
from stack.paths import ARTIFACTS as ARTIFACTS_ROOT
from stack.paths import STACK_FILE

ARTIFACTS = ARTIFACTS_ROOT / "e2e"
# Songs synthesized once and copied after that (fixtures.audio.synth_song's `cache`): every stack of a run asks for
# the same ones, and the next run (CI's local pass after its docker pass) asks again.
SONG_CACHE = ARTIFACTS_ROOT / "song-cache"
KEEP_RUNS = 6  # stacks, not runs: E2E_STACKS=3 starts three per run
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


# The modules whose tests kill, stop, restart or add components: on any stack they run after its other tests.
BREAKING_MODULES = (
    "test_faults.py",
    "test_infrastructure_faults.py",
    "test_alert_mail.py",
    "test_audio_replicas.py",
    "test_worker_host.py",
)
RUNS_GROUP, FAULTS_GROUP, FAULTS_2_GROUP = "full-stack-runs", "full-stack-faults", "full-stack-faults-2"
STACK_GROUPS = (RUNS_GROUP, FAULTS_GROUP, FAULTS_2_GROUP)  # E2E_STACKS=N: the first N, one stack each
# Where each breaking module runs, by the number of stacks (the other tests: RUNS_GROUP), balanced with the junit
# times of whole local runs (docs/TESTING.md); a key `module::test` places one test. Two stacks: every breaking
# test on the second (the scaling tests after the runs instead measured 563 s against 584 s, within the noise: the
# faults slowed beside them). Three (CI): the runs; the faults and the alert; the infrastructure faults, the
# replicas and the worker host (junit sums per stack 2026-12-06: 318 │ 378 │ 272 s with the worker host and the
# triggerer killed on the second).
LAYOUTS = {
    1: {},
    2: {module: FAULTS_GROUP for module in BREAKING_MODULES},
    3: {
        "test_faults.py": FAULTS_GROUP,
        "test_alert_mail.py": FAULTS_GROUP,
        "test_infrastructure_faults.py": FAULTS_2_GROUP,
        "test_audio_replicas.py": FAULTS_2_GROUP,
        "test_worker_host.py": FAULTS_2_GROUP,
    },
}
PEAK_MEMORY_INTERVAL_S = 30.0  # how often the stack's memory (PSS) is read for its printed peak
LAST_MODULE = "test_results_whole.py"  # checks what every earlier test of its stack wrote (one per stack)


def stack_count(config: pytest.Config) -> int:
    """How many stacks this run starts: one per pytest-xdist worker (make e2e E2E_STACKS=N → -n N)."""
    workers = getattr(config, "workerinput", {}).get("workercount") or config.getoption("numprocesses", None) or 1
    if str(workers) not in map(str, LAYOUTS):
        raise pytest.UsageError(f"-n {workers}: the full-stack suite runs on 1, 2 or 3 stacks (E2E_STACKS=1|2|3)")
    return int(workers)


def group_for(nodeid: str, stacks: int) -> str | None:
    """The stack group of a test id (None: not a full-stack test): a test parametrized by group names its own, else
    the layout's entry for the test (`module::name`), else for its module, else the runs' stack."""
    path, _, rest = nodeid.partition("::")
    if "full_stack/" not in path:
        return None
    for group in STACK_GROUPS[:stacks]:
        if f"[{group}]" in rest:
            return group
    layout, module = LAYOUTS[stacks], Path(path).name
    return layout.get(f"{module}::{rest.partition('[')[0]}") or layout.get(module, RUNS_GROUP)


def group_of(item: pytest.Item) -> str | None:
    return group_for(item.nodeid, stack_count(item.config))


def breaks_components(item: pytest.Item) -> bool:
    return item.path.name in BREAKING_MODULES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`stack_group`: one test per stack (test_results_whole.py), its id naming the group (group_for)."""
    if "stack_group" in metafunc.fixturenames:
        metafunc.parametrize("stack_group", STACK_GROUPS[: stack_count(metafunc.config)])


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`-n 2`: each group's tests on one worker, in order (pytest-xdist's loadscope with our scopes). xdist's own
    `--dist loadgroup` would do it with xdist_group marks, but xdist 3.8 cannot rename pytest 9's node ids."""
    from xdist.scheduler import LoadScopeScheduling

    class StackGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_for(nodeid, stack_count(self.config)) or nodeid

    return StackGroups(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(item.fspath).parents]
    for item in mine:
        item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.timeout(900))
    # on each stack the breaking tests after the others, the whole-results check last (stable: file order otherwise)
    position = {id(item): i for i, item in enumerate(mine)}
    slots = sorted(position.values())
    ordered = sorted(mine, key=lambda it: (it.path.name == LAST_MODULE, breaks_components(it), position[id(it)]))
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item
    left_out = []
    if mine and resolve_backend() == "local":  # tests of the compose stack itself: they run in the docker pass
        left_out += [item for item in mine if item.get_closest_marker("docker_only")]
    if mine and scope() == "both":  # CI's docker pass: what differs by backend, one run of each kind
        left_out += [item for item in mine if not any(map(item.get_closest_marker, ("both_backends", "docker_only")))]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


SCOPE_ENV = "HSS_E2E_SCOPE"  # `make e2e E2E_SCOPE=both`: only the tests marked both_backends (and docker_only)


def scope() -> str:
    value = os.environ.get(SCOPE_ENV, "").strip().lower() or "all"
    if value not in ("all", "both"):
        raise pytest.UsageError(f"{SCOPE_ENV}={value!r}: use 'all' (every full-stack test) or 'both'")
    return value


def _state_dir(backend: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    earlier = sorted(ARTIFACTS.glob(f"{backend}-*"))
    for old in earlier[: max(0, len(earlier) - (KEEP_RUNS - 1))]:  # keep the newest runs' logs
        shutil.rmtree(old, ignore_errors=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1: one stack each under xdist
    return ARTIFACTS / f"{backend}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}{'-' + worker if worker else ''}"


def _synthesize(root: Path) -> None:
    song = synth_song(root / SONG_PATH, bpm=124, tonic="A", scale="minor", seconds=20, cache=SONG_CACHE)
    write_sidecar(song, UPBEAT_POP)
    write_truncated(song, root / CORRUPT_PATH, keep_bytes=4096)
    for i in range(BATCH_SONGS):
        synth_song(root / BATCH_FOLDER / f"batch_{i}.wav", bpm=100 + 10 * i, seconds=8, seed=i, cache=SONG_CACHE)
    make_raw_dataset(root, RAW_DATASET, n_songs=RAW_SONGS, seconds=5.0, cache=SONG_CACHE)


REUSE_ENV = "HSS_E2E_REUSE"  # `make e2e REUSE_STACK=1`: the tests run on the stack `make up` left running


def reused_stack() -> AttachedStack | None:
    """The `make up` stack when reuse was asked for and one answers (else the tests start their own)."""
    if os.environ.get(REUSE_ENV, "").strip().lower() not in ("1", "true", "yes"):
        return None
    reused = attach(STACK_FILE)
    if reused is None:
        print(f"\n{REUSE_ENV}: no stack answers at {STACK_FILE}; starting one for this run")
        return None
    print(
        f"\nreusing the {reused.backend} stack of `make up` ({reused.airflow_url}, {reused.workers} worker(s)). "
        f"It is left running. The fault tests need a stack of their own; the checks of the e2e stack's settings "
        f"({WORKERS} workers, a {DEADLINE_S:g} s analysis deadline) hold only on one started like it."
    )
    return reused


@pytest.fixture(scope="package")
def stack() -> Stack:
    if (reused := reused_stack()) is not None:
        _synthesize(reused.data_root)
        yield reused
        return
    backend = resolve_backend()
    state_dir = _state_dir(backend)
    try:
        config = StackConfig(
            profile="celery",
            state_dir=state_dir,
            fixed_ports=False,  # any free ports: two stacks may start side by side (xdist), next to `make up`
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
        # every 30 s, not PeakMemory's 2 s: one reading walks the smaps_rollup of each of the stack's ~90 processes
        # (0.15-0.3 CPU-s), and at 2 s it was 87 % of this test process's CPU (py-spy), ≈ 0.1 core per stack on a
        # CPU-bound pass; the stack's peaks (the batch, the replicas) last longer than that
        with PeakMemory(full_stack.memory_bytes, interval=PEAK_MEMORY_INTERVAL_S) as memory:
            _synthesize(full_stack.data_root)
            yield full_stack
        peak = f"{memory.peak / 2**30:.2f} GiB ({memory.samples} samples, every {memory.interval:g} s)"
        print(f"\npeak memory of the {backend} stack: {peak}")
    finally:
        full_stack.down()


@pytest.fixture(scope="package")
def client(stack: Stack) -> AirflowClient:
    client = AirflowClient(stack.airflow_url, stack.username, stack.password)
    client.wait_for_dags(DAG_IDS, timeout=180)
    return client


@pytest.fixture(scope="package")
def runs_ahead(request: pytest.FixtureRequest, stack: Stack, client: AirflowClient) -> RunsAhead:
    """Every selected module's `trigger_ahead(ahead, stack)`, called once, in collection order."""
    ahead = RunsAhead(client)
    modules = []
    for item in request.session.items:
        if group_of(item) == RUNS_GROUP and hasattr(item.module, "trigger_ahead") and item.module not in modules:
            modules.append(item.module)
    started = time.monotonic()
    for module in modules:
        module.trigger_ahead(ahead, stack)
    if modules:
        print(f"\n{len(ahead.keys())} runs triggered ahead in {time.monotonic() - started:.1f} s")
    return ahead


@pytest.fixture(autouse=True)
def _group_setup(request: pytest.FixtureRequest) -> None:
    """The first test of the runs group starts the runs ahead (never on a fault stack); a test that breaks
    components refuses a reused stack before it triggers anything."""
    if breaks_components(request.node) and isinstance(request.getfixturevalue("stack"), AttachedStack):
        pytest.fail(
            f"{request.node.name} breaks components, so it needs a stack this run starts, not the one `make up` "
            f"left running (run it without REUSE_STACK=1)"
        )
    if group_of(request.node) == RUNS_GROUP and not breaks_components(request.node):
        request.getfixturevalue("runs_ahead")
