"""Secure by default, and the plain paths work: what a new user and a security reviewer try first.

Both backends: a fresh stack is green (the daily training without its dataset is skipped, and mails nobody); the
broker and the metadata DB refuse a client without the password; a run triggered over REST with an explicit
run id and a past logical date succeeds; a batch of 40 songs is analysed once each (workflow-audio's bounded
queue, HSS_AUDIO_MAX_QUEUE=4 on the test stacks, turns overload into 429s the operators retry, never into
extra Essentia runs).

Docker only (deselected on the local backend by the package's conftest): the init service refuses
placeholder secrets; a test run starts like a plain `docker compose up` on a fresh checkout (the init service
seeded the DAG repository) and the dag-processor is unhealthy without its repository; one data root used by
`make demo` and docker in turn, as a non-root host user, with every run succeeding and the results removable
by that user without root.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from contracts.data_layout import DataLayout
from e2e.tests.full_stack.helpers import result_document, run_to_end, task_states
from fixtures.audio import synth_song
from stack.base import Stack
from stack.client import AirflowClient
from stack.demo import SONG_ID as DEMO_SONG_ID
from stack.demo import SONG_PATH as DEMO_SONG_PATH
from stack.host_user import HostUser, ensure_host_user, traversable_for
from stack.mail import mail_text, read_mails
from stack.paths import REPO_ROOT
from stack.waiting import wait_until

pytestmark = pytest.mark.both_backends  # CI's docker pass runs these again

QUEUE_SONGS, QUEUE_FOLDER = 40, "songs/e2e_queue"
ANALYSES_METRIC = "hss_audio_analyses_started"  # Essentia runs started (a counter: samples end in _total)


def redis_answer(host: str, port: int, command: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(command)
        return sock.recv(256)


def audio_analyses(stack: Stack) -> float:
    text = requests.get(f"{stack.service_urls['workflow-audio']}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == ANALYSES_METRIC
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def test_a_fresh_stack_is_green_the_daily_training_waits_for_its_file_without_failing_or_mailing(
    client: AirflowClient, stack: Stack
) -> None:
    def finished_scheduled_runs() -> list:
        runs = [run for run in client.list_runs("daily_model_training") if run.run_type.value == "scheduled"]
        return runs if runs and all(run.state.value in ("success", "failed") for run in runs) else []

    # the scheduler creates the latest interval's run at start (no catch-up)
    runs = wait_until(finished_scheduled_runs, 180, 0.5, "the scheduled run finished", raise_on_timeout=False)
    if not runs:
        runs = [run for run in client.list_runs("daily_model_training") if run.run_type.value == "scheduled"]
    assert runs, "no scheduled daily_model_training run within 180 s of the stack's start"
    for run in runs:
        assert run.state.value == "success", f"{run.dag_run_id} ended {run.state.value}"
        ti_states = task_states(client, "daily_model_training", run.dag_run_id)
        states = {task: state for (task, _), (state, _) in ti_states.items()}
        assert set(states.values()) == {"skipped"}, states
        log = client.task_log("daily_model_training", run.dag_run_id, "validate_training_config")
        assert "training_data/daily.csv" in log, log[-2000:]
    mails = [mail_text(message) for message in read_mails(stack.mail_dir)]
    assert not [text for text in mails if "daily_model_training" in text], "a fresh stack mailed an alert"


def test_broker_and_metadata_db_refuse_a_client_without_the_password(stack: Stack) -> None:
    info = stack.info()
    redis, postgres = urlsplit(info["redis"]), urlsplit(info["postgres"])
    assert redis_answer(redis.hostname, redis.port, b"PING\r\n").startswith(b"-NOAUTH")
    assert redis_answer(redis.hostname, redis.port, b"AUTH wrong-password\r\n").startswith(b"-WRONGPASS")
    assert redis_answer(redis.hostname, redis.port, f"AUTH {redis.password}\r\nPING\r\n".encode()).startswith(b"+OK")
    for password in ("", "wrong-password"):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(
                host=postgres.hostname, port=postgres.port, user=postgres.username, password=password, dbname="airflow"
            ).close()
    psycopg2.connect(
        host=postgres.hostname,
        port=postgres.port,
        user=postgres.username,
        password=postgres.password,
        dbname="airflow",
        connect_timeout=5,
    ).close()


def test_a_run_triggered_with_an_explicit_run_id_and_a_past_logical_date_succeeds(client: AirflowClient) -> None:
    from e2e.tests.full_stack.conftest import SONG_ID, SONG_PATH

    run_id = f"by-hand-{int(time.time())}"
    conf = {"song_id": SONG_ID, "song_path": SONG_PATH}
    created = client.trigger_raw("comprehensive_analysis", conf, run_id, logical_date="2025-01-01T00:00:00Z")
    assert created["dag_run_id"] == run_id
    final = client.wait_for_run("comprehensive_analysis", run_id, timeout=300)
    assert final.state.value == "success"


def test_a_batch_of_40_songs_is_analysed_once_each_through_the_bounded_audio_queue(
    client: AirflowClient, stack: Stack
) -> None:
    for i in range(QUEUE_SONGS):
        synth_song(stack.data_root / QUEUE_FOLDER / f"q_{i:02d}.wav", bpm=90 + i, seconds=2, seed=100 + i)
    before = audio_analyses(stack)
    run_id = run_to_end(client, "batch_analysis", {"folder": QUEUE_FOLDER, "pattern": "*.wav"})
    summary = client.xcom("batch_analysis", run_id, "summarize_batch")
    assert (summary["total"], summary["analysed"]) == (QUEUE_SONGS, QUEUE_SONGS)
    runs = audio_analyses(stack) - before
    print(f"batch of {QUEUE_SONGS} songs: {runs:g} Essentia runs on the {stack.backend} stack")
    assert runs == QUEUE_SONGS, f"{runs:g} Essentia runs for {QUEUE_SONGS} songs (at most one each, and each once)"


# ---- docker only --------------------------------------------------------------------------------------


@pytest.mark.docker_only
def test_the_init_service_refuses_placeholder_secrets_naming_them(stack: Stack) -> None:
    argv = [*stack.compose_command(), "run", "--rm", "--no-deps", "-e", "AIRFLOW_JWT_SECRET=change-me-jwt-secret"]
    done = subprocess.run([*argv, "airflow-init"], capture_output=True, text=True, timeout=180, check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "AIRFLOW_JWT_SECRET is a placeholder" in output and "make up" in output, output[-3000:]


@pytest.mark.docker_only
def test_a_plain_compose_start_seeds_the_dag_repository_and_the_dag_processor_needs_it(stack: Stack) -> None:
    history = stack.dag_repo.history(limit=100)
    assert history and "seeded by airflow-init" in history[-1].message, [d.message for d in history]
    probe = [*stack.compose_command(), "exec", "-T"]
    healthy = subprocess.run([*probe, "airflow-dag-processor", "hss-healthcheck"], capture_output=True, text=True)
    assert healthy.returncode == 0, healthy.stderr
    no_repo = '{"conn_type": "git", "host": "/nowhere"}'
    broken = subprocess.run(
        [*probe, "-e", f"AIRFLOW_CONN_HSS_DAGS_REPO={no_repo}", "airflow-dag-processor", "hss-healthcheck"],
        capture_output=True,
        text=True,
    )
    assert broken.returncode == 1 and "DAG repository /nowhere" in broken.stderr, broken.stderr


def run_demo_as(user: HostUser, stack: Stack, work: Path, env_file: Path) -> str:
    state = work / f"demo-{time.monotonic_ns()}"
    state.mkdir()
    os.chown(state, *user.ids)
    argv = [sys.executable, "-m", "stack.demo", "--state-dir", str(state), "--data-root", str(stack.data_root)]
    argv += ["--any-ports", "--env-file", str(env_file)]
    done = subprocess.run(user.argv(argv), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    return done.stdout


@pytest.mark.docker_only
def test_one_data_root_demo_then_docker_then_demo_again_as_a_non_root_user(client: AirflowClient, stack: Stack) -> None:
    user = ensure_host_user()  # the docker test stack runs its containers as this user's uid (AIRFLOW_UID)
    assert user.uid != 0 and stack.airflow_uid == user.uid
    work = stack.state_dir / "as-host-user"
    work.mkdir(exist_ok=True)
    os.chown(work, *user.ids)
    env_file = work / "shared.env"  # one .env for every backend: the demo signs models with the same key
    env_file.touch(mode=0o600)  # created private: the secrets are never readable by others
    env_file.write_text(stack.env_path.read_text())
    os.chown(env_file, *user.ids)

    interpreter = (Path(sys.executable).resolve(), Path(sys.base_prefix))  # the venv's Python may live under /root
    with traversable_for(REPO_ROOT, work, stack.data_root, *interpreter):
        run_demo_as(user, stack, work, env_file)  # local processes as the host user
        conf = {"song_id": DEMO_SONG_ID, "song_path": DEMO_SONG_PATH}
        run_id = run_to_end(client, "comprehensive_analysis", conf)  # docker, the same song id
        docker_result = result_document(
            stack.data_root, client.xcom("comprehensive_analysis", run_id, "aggregate_results")
        )
        assert docker_result["song_id"] == DEMO_SONG_ID
        run_demo_as(user, stack, work, env_file)  # and local processes again, over what docker wrote

    song_results = DataLayout(stack.data_root).song_results_of(DEMO_SONG_ID)
    assert len(list(song_results.glob("*.json"))) >= 3
    foreign = subprocess.run(
        user.argv(["find", str(song_results), str(DataLayout(stack.data_root).models), "!", "-user", user.name]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert foreign.stdout == "", f"files the host user does not own:\n{foreign.stdout}"
    removed = subprocess.run(user.argv(["rm", "-rf", str(song_results)]), capture_output=True, text=True)
    assert removed.returncode == 0 and not song_results.exists(), removed.stderr
