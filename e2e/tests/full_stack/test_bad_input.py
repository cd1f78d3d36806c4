"""Bad conf is refused at trigger time; a corrupt file fails its task at once and sends one alert mail,
next to a good run that sends none."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest

from e2e.tests.full_stack.ahead import RunsAhead
from e2e.tests.full_stack.conftest import CORRUPT_PATH, DEADLINE_S, SONG_ID, SONG_PATH
from e2e.tests.full_stack.helpers import RUN_TIMEOUT, mails_about, task_states, wait_for_mails
from stack.base import Stack
from stack.client import AirflowClient, AirflowClientError

DAG = "comprehensive_analysis"


def trigger_ahead(ahead: RunsAhead, stack: Stack) -> None:
    """The corrupt and the good run before any other run goes, and settled before the next ones start: the good
    run must end within its deadline (DEADLINE_S), which a stack busy with the other runs ahead would not
    promise. The test's wait past the deadline then overlaps the tests before it."""
    ahead.trigger("corrupt", DAG, {"song_id": "e2e_corrupt", "song_path": CORRUPT_PATH})
    ahead.trigger("good", DAG, {"song_id": SONG_ID, "song_path": SONG_PATH})
    ahead.settle("corrupt", "good")
    ahead.trigger("outside", DAG, {"song_id": "e2e_outside", "song_path": "/etc/passwd"})


BAD_CONFS = {
    "missing song_id": ({"song_path": SONG_PATH}, "song_id"),
    "song_id of the wrong type": ({"song_id": 42, "song_path": SONG_PATH}, "song_id"),
    "song_path of the wrong type": ({"song_id": SONG_ID, "song_path": ["songs/a.wav"]}, "song_path"),
    "song_path outside the data root": ({"song_id": SONG_ID, "song_path": "../../etc/passwd"}, "song_path"),
}


@pytest.mark.parametrize("conf,param", BAD_CONFS.values(), ids=list(BAD_CONFS))
def test_bad_conf_is_refused_at_trigger_time_naming_the_param(client: AirflowClient, conf: dict, param: str) -> None:
    before = len(client.list_runs("comprehensive_analysis", limit=1000))
    with pytest.raises(AirflowClientError, match=f"Invalid input for param {param}") as refused:
        client.trigger("comprehensive_analysis", conf)
    assert refused.value.status == 400
    assert len(client.list_runs("comprehensive_analysis", limit=1000)) == before  # no run was created


def test_an_absolute_path_outside_the_data_root_fails_the_run_on_its_first_try(
    client: AirflowClient, runs_ahead: RunsAhead
) -> None:
    # The Param pattern names no data root (a DAG must validate the same on every host), so an absolute path
    # passes the form; the task resolves it in the data root and fails without a retry, reading nothing.
    run = runs_ahead.run("outside")  # triggered ahead with {"song_id": "e2e_outside", "song_path": "/etc/passwd"}
    final = client.wait_for_run("comprehensive_analysis", run.dag_run_id, timeout=RUN_TIMEOUT)
    assert final.state.value == "failed"
    states = task_states(client, "comprehensive_analysis", run.dag_run_id)
    assert states[("audio_analysis", -1)] == ("failed", 1)  # refused, not retried
    log = client.task_log("comprehensive_analysis", run.dag_run_id, "audio_analysis", 1)
    assert "path_outside_data_root" in log and "/etc/passwd" in log, log[-3000:]
    assert states[("aggregate_results", -1)][0] in ("upstream_failed", "skipped")  # no result file is written


def test_corrupt_audio_fails_at_once_with_the_service_message_while_a_good_run_succeeds(
    client: AirflowClient, stack: Stack, runs_ahead: RunsAhead
) -> None:
    bad, good = runs_ahead.run("corrupt"), runs_ahead.run("good")  # triggered ahead, together
    triggered = bad.triggered_at
    bad_final = client.wait_for_run("comprehensive_analysis", bad.dag_run_id, timeout=RUN_TIMEOUT)
    good_final = client.wait_for_run("comprehensive_analysis", good.dag_run_id, timeout=RUN_TIMEOUT)

    assert (bad_final.state.value, good_final.state.value) == ("failed", "success")
    state, tries = task_states(client, "comprehensive_analysis", bad.dag_run_id)[("audio_analysis", -1)]
    assert (state, tries) == ("failed", 1)  # a 4xx is permanent: no retry although the task has retries
    log = client.task_log("comprehensive_analysis", bad.dag_run_id, "audio_analysis", 1)
    assert re.search(r"HTTP 422 \w+: .*e2e_corrupt\.wav", log), log[-3000:]

    # Alerting: exactly one mail for the failed task, with what a person needs to act on it; none for the good run.
    [mail] = wait_for_mails(stack, bad.dag_run_id, count=1)
    assert "comprehensive_analysis: task audio_analysis failed (try 1)" in mail
    for line in ("DAG: comprehensive_analysis", "Task: audio_analysis", "Try: 1"):
        assert line in mail, mail
    assert re.search(r"Error: .*HTTP 422 \w+: .*e2e_corrupt\.wav", mail), mail
    link = f"/dags/comprehensive_analysis/runs/{quote(bad.dag_run_id)}/tasks/audio_analysis?try_number=1"
    assert re.search(r"Log: https?://\S+" + re.escape(link), mail), mail
    # Past both runs' deadline: the good run sent nothing, and the run that failed before its deadline gets no
    # deadline mail on top of its failure mail.
    time.sleep(max(0.0, triggered + DEADLINE_S + 15 - time.monotonic()))
    assert mails_about(stack, good.dag_run_id) == []
    assert mails_about(stack, bad.dag_run_id) == [mail]
