"""A second worker host joins the running stack (docs/WORKER_HOST.md): a Celery worker on the audio queue alone and
its own workflow-audio replica. A batch_analysis' mapped tasks run on both hosts, and every song the worker host
took was analysed by its own replica.

On the docker backend the worker host is docker-compose.worker-host.yml as a project of its own, on its own network,
reaching the main stack's redis, postgres and api-server over a second network standing for the LAN
(stack/docker_worker_host.py); on the local backend it is a second set of processes (stack/worker_host.py). Either
way it is given no metadata DB, Fernet key or UI login. It takes tasks from the stack's workers while it runs: one
of the fault-group tests (its own stack under xdist, else last on the shared one), and it leaves at the end.
"""

from __future__ import annotations

from collections import Counter

import pytest

from e2e.tests.full_stack.conftest import SONG_CACHE
from e2e.tests.full_stack.helpers import RUN_TIMEOUT
from fixtures.audio import synth_song
from stack.base import Stack
from stack.client import AirflowClient
from stack.worker_host import LocalWorkerHost, worker_host_for

pytestmark = pytest.mark.both_backends  # compose project + LAN network vs a second set of processes

DAG = "batch_analysis"
FOLDER = "songs/e2e_worker_host"
SONGS = 8


@pytest.fixture
def worker_host(stack: Stack):
    for index in range(SONGS):
        path = stack.data_root / FOLDER / f"host_song_{index}.wav"
        if not path.exists():
            synth_song(path, bpm=100 + 6 * index, seconds=60, seed=80 + index, cache=SONG_CACHE)
    host = worker_host_for(stack).start()
    try:
        yield host
    finally:
        host.stop()


def test_a_worker_host_takes_audio_tasks_and_analyses_them_on_its_own_replica(
    client: AirflowClient, stack: Stack, worker_host: LocalWorkerHost
) -> None:
    before = worker_host.analyses_served()
    run_id = client.trigger(DAG, {"folder": FOLDER, "pattern": "*.wav", "chunk_size": 1}).dag_run_id
    final = client.wait_for_run(DAG, run_id, timeout=RUN_TIMEOUT)
    assert final.state.value == "success"
    mapped = [ti for ti in client.task_instances(DAG, run_id) if ti.task_id == "audio_analysis"]
    hosts = Counter(ti.hostname for ti in mapped)
    print(f"{stack.backend}: {DAG}'s {SONGS} audio tasks per host: {dict(hosts)}")
    assert len(mapped) == SONGS and worker_host.hostname in hosts and len(hosts) >= 2, hosts  # on both hosts
    served = worker_host.analyses_served() - before
    assert served == hosts[worker_host.hostname], (served, hosts)  # its songs, on its own replica, and no other
    # the UI's log view of a task that ran there: the api-server fetched it from the worker host's log server
    [remote, *_] = [ti for ti in mapped if ti.hostname == worker_host.hostname]
    log = client.task_log(DAG, run_id, "audio_analysis", remote.try_number, map_index=remote.map_index)
    assert "analysing 1 song(s)" in log, log[-2000:]
    summary = client.xcom(DAG, run_id, "summarize_batch")
    assert (summary["total"], summary["analysed"]) == (SONGS, SONGS)
