"""Hostile audio through the whole stack: every case of fixtures/hostile_audio.py as a comprehensive_analysis run.

Each run fails its audio_analysis task at once (a 4xx is not retried) with the service's status and code in
the task log — except a mode-000 file where the service runs as root (the local backend here), which
root reads and analyses. A file truncated while it is analysed gives the analysis of the whole file, 409
`file_changed`, or — cut before the service looked — 422 `corrupt_audio`; never a half-read song.
Afterwards the extractor pool is healthy: /ready answers and a good song still analyses.
"""

from __future__ import annotations

import os
import time

import pytest
import requests

from e2e.tests.full_stack.ahead import RunsAhead
from e2e.tests.full_stack.conftest import SONG_CACHE, SONG_ID, SONG_PATH
from e2e.tests.full_stack.helpers import RUN_TIMEOUT, result_document, run_to_end, task_states, wait_for_task_state
from fixtures.audio import synth_song
from fixtures.hostile_audio import make_hostile_audio, truncate
from stack.base import Stack
from stack.client import AirflowClient
from stack.demo import failure_report

DAG = "comprehensive_analysis"


def services_run_as_root(stack: Stack) -> bool:
    return stack.backend == "local" and os.geteuid() == 0  # the docker images run the services as uid 50000


def trigger_ahead(ahead: RunsAhead, stack: Stack) -> None:
    """Every hostile file's run, together (they fail at once: no run waits long on another)."""
    cases = make_hostile_audio(stack.data_root)
    ahead.keep("hostile cases", cases)
    ahead.keep("audio restarts before the hostile runs", stack.restart_counts().get("workflow-audio", 0))
    stamp = int(time.time())
    for name, case in cases.items():
        ahead.trigger(f"hostile {name}", DAG, {"song_id": f"hostile_{name}", "song_path": case.path}, f"{name}_{stamp}")


@pytest.mark.both_backends
def test_every_hostile_file_fails_its_task_at_once_with_the_reason(
    client: AirflowClient, stack: Stack, runs_ahead: RunsAhead
) -> None:
    cases = runs_ahead.kept("hostile cases")
    restarts_before = runs_ahead.kept("audio restarts before the hostile runs")
    runs = {name: runs_ahead.run(f"hostile {name}") for name in cases}
    for name, run in runs.items():
        case = cases[name]
        final = client.wait_for_run(DAG, run.dag_run_id, timeout=RUN_TIMEOUT)
        if case.root_bypasses and services_run_as_root(stack):
            assert final.state.value == "success", failure_report(client, DAG, run.dag_run_id)
            continue
        assert final.state.value == "failed", f"{name}: {final.state.value}"
        state, tries = task_states(client, DAG, run.dag_run_id)[("audio_analysis", -1)]
        assert (state, tries) == ("failed", 1), f"{name}: audio_analysis {state} after {tries} tries"
        log = client.task_log(DAG, run.dag_run_id, "audio_analysis", 1)
        assert f"HTTP {case.status} {case.code}" in log, f"{name}:\n{log[-2000:]}"
    print(f"{len(cases)} hostile files, each refused with its code")

    audio = stack.service_urls["workflow-audio"]
    assert requests.get(f"{audio}/ready", timeout=10).status_code == 200
    assert stack.restart_counts().get("workflow-audio", 0) == restarts_before  # no crash behind the answers
    run_to_end(client, DAG, {"song_id": SONG_ID, "song_path": SONG_PATH})  # the pool still analyses


def test_a_file_truncated_while_it_is_analysed_is_never_half_read(client: AirflowClient, stack: Stack) -> None:
    path = "songs/hostile/truncated_mid_analysis.wav"
    synth_song(stack.data_root / path, bpm=100, seconds=150, seed=21, cache=SONG_CACHE)
    run = client.trigger(DAG, {"song_id": "hostile_truncated", "song_path": path})
    wait_for_task_state(client, DAG, run.dag_run_id, "audio_analysis", {"running"})
    truncate(stack.data_root, path, keep_bytes=4096)
    final = client.wait_for_run(DAG, run.dag_run_id, timeout=RUN_TIMEOUT)

    if final.state.value == "success":  # the worker had its private copy: the song as it was checked
        summary = client.xcom(DAG, run.dag_run_id, "aggregate_results")
        duration = result_document(stack.data_root, summary)["audio"]["highlights"]["duration_s"]
        assert abs(duration - 150) < 1, f"a half-read song was analysed: {duration} s"
    else:  # changed under the worker's copy: 409; already cut when the service checked it: 422 corrupt_audio
        log = client.task_log(DAG, run.dag_run_id, "audio_analysis", 1)
        assert "HTTP 409 file_changed" in log or "HTTP 422 corrupt_audio" in log, log[-2000:]
