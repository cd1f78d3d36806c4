"""Idempotence on the full stack: a run id that exists is refused without side effects; clearing succeeded tasks
and running them again leaves one consistent result per run."""

from __future__ import annotations

import json
import time

import pytest

from contracts.data_layout import DataLayout
from e2e.tests.full_stack.conftest import SONG_PATH
from e2e.tests.full_stack.helpers import RUN_TIMEOUT, task_states
from stack.base import Stack
from stack.client import AirflowClient, AirflowClientError

DAG = "comprehensive_analysis"


def snapshot(stack: Stack, song_id: str) -> dict[str, tuple[int, bytes]]:
    folder = DataLayout(stack.data_root).song_results_of(song_id)
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())} if folder.exists() else {}


def test_a_trigger_with_an_existing_run_id_is_refused_without_side_effects(client: AirflowClient, stack: Stack) -> None:
    song_id, run_id = "idem_existing", f"idem_existing_{int(time.time())}"
    run_to_end_with_id(client, {"song_id": song_id, "song_path": SONG_PATH}, run_id)
    results, mails = snapshot(stack, song_id), sorted(stack.mail_dir.glob("*.eml"))
    runs = len(client.list_runs(DAG, limit=1000))

    with pytest.raises(AirflowClientError) as refused:
        client.trigger_raw(DAG, {"song_id": "someone_else", "song_path": SONG_PATH}, run_id=run_id)
    assert refused.value.status == 409, refused.value

    time.sleep(5)  # room for anything a second run would have done
    assert len(client.list_runs(DAG, limit=1000)) == runs
    assert client.get_run(DAG, run_id).conf == {"song_id": song_id, "song_path": SONG_PATH}
    assert snapshot(stack, song_id) == results  # not rewritten
    assert not (DataLayout(stack.data_root).song_results_of("someone_else")).exists()
    assert sorted(stack.mail_dir.glob("*.eml")) == mails


def test_clearing_succeeded_tasks_reruns_them_into_one_consistent_result(client: AirflowClient, stack: Stack) -> None:
    song_id, run_id = "idem_cleared", f"idem_cleared_{int(time.time())}"
    run_to_end_with_id(client, {"song_id": song_id, "song_path": SONG_PATH}, run_id)
    path = DataLayout(stack.data_root).song_results_of(song_id) / f"{run_id}.json"
    first = json.loads(path.read_text())

    cleared = client.clear_tasks(DAG, run_id, ["hit_prediction"])  # and everything downstream of it
    assert {"hit_prediction", "ai_insights", "aggregate_results"} <= set(cleared), cleared
    final = client.wait_for_run(DAG, run_id, timeout=RUN_TIMEOUT)
    assert final.state.value == "success"

    states = task_states(client, DAG, run_id)
    assert states[("hit_prediction", -1)][1] == 2 and states[("audio_analysis", -1)][1] == 1  # only what was cleared
    second = json.loads(path.read_text())
    assert second["run"]["written_at"] > first["run"]["written_at"]  # rewritten by the rerun…
    assert second["prediction"] == client.xcom(DAG, run_id, "hit_prediction")  # …from the rerun's own parts
    assert second["audio"] == first["audio"]
    leftovers = [p.name for p in path.parent.iterdir() if p.name != path.name]
    assert leftovers == [], f"one result per run, no temp files: {leftovers}"


def run_to_end_with_id(client: AirflowClient, conf: dict, run_id: str) -> None:
    client.trigger(DAG, conf, run_id=run_id)
    final = client.wait_for_run(DAG, run_id, timeout=RUN_TIMEOUT)
    assert final.state.value == "success"
