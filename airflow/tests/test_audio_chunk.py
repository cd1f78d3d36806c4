"""batch_analysis's chunk task (hss_airflow.operators.audio_chunk) against the scripted fake service: each song's
analysis written to the data root with a small reference as XCom, songs sent concurrently, and a failing song
failing only itself (the others are kept) while the task fails the way its error asks.

Whole batch_analysis runs against the real services: test_dag_runs.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from fixtures.http_fakes import FAKE_AUDIO_ANALYSIS, UNAVAILABLE
from hss_airflow.operators import AudioChunkOperator

FAKE_AUDIO = {**FAKE_AUDIO_ANALYSIS, "analysis_seconds": 1.5}
NOT_AUDIO = {"error": {"code": "not_audio", "message": "songs/b.wav is not audio"}}
SONGS = [{"song_id": "a", "song_path": "songs/a.wav"}, {"song_id": "b", "song_path": "songs/b.wav"}]
RUN_ID = "manual__2026-12-05T07:00:00+00:00"

pytestmark = pytest.mark.usefixtures("execute_outside_task_runner")


class FakeTaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def ok(delay: float = 0.0) -> tuple[int, Any, dict[str, str], float]:
    return (200, FAKE_AUDIO, {}, delay)


def chunk(conn_id: str, songs: list[dict[str, str]] = SONGS, **kwargs: Any) -> AudioChunkOperator:
    return AudioChunkOperator(task_id="audio_analysis", songs=songs, conn_id=conn_id, http_backoff=0.01, **kwargs)


def execute(op: AudioChunkOperator, ti: FakeTaskInstance | None = None) -> list[dict[str, Any]]:
    return op.execute({"run_id": RUN_ID, "ti": ti or FakeTaskInstance()})  # type: ignore[arg-type]


def test_each_analysis_is_written_once_and_xcom_carries_its_reference(
    fake_service: Callable[..., Any], root: Path
) -> None:
    service, conn_id = fake_service(ok())
    ti = FakeTaskInstance()
    outcomes = execute(chunk(conn_id), ti)
    assert [o["song_id"] for o in outcomes] == ["a", "b"] and {o["status"] for o in outcomes} == {"analysed"}
    for outcome in outcomes:
        data = (root / outcome["analysis_path"]).read_bytes()
        assert outcome["analysis_path"].startswith("results/batch/") and outcome["analysis_path"].endswith(
            f"/{outcome['song_id']}.json"
        )
        assert hashlib.sha256(data).hexdigest() == outcome["sha256"] and json.loads(data) == FAKE_AUDIO
        assert (outcome["feature_count"], outcome["analysis_seconds"]) == (150, 1.5)
    assert "features" not in json.dumps(outcomes) and len(json.dumps(outcomes)) < 1500
    assert ti.pushed == {}  # on success the return value is the XCom
    assert sorted(json.loads(c["body"])["song_id"] for c in service.calls) == ["a", "b"]


def test_the_chunks_songs_are_in_flight_together(fake_service: Callable[..., Any], root: Path) -> None:
    service, conn_id = fake_service(ok(delay=1.0))
    execute(chunk(conn_id, max_concurrent_requests=2))
    first, second = sorted(call["at"] for call in service.calls)
    assert second - first < 0.9, "the second song was sent only after the first one's answer"


def test_a_refused_song_fails_only_itself_and_the_task_without_retry(
    fake_service: Callable[..., Any], root: Path
) -> None:
    _, conn_id = fake_service(ok(), (422, NOT_AUDIO, {}, 0.0))  # a, then b, one at a time
    ti = FakeTaskInstance()
    with pytest.raises(AirflowFailException, match=r"1 of 2 song\(s\) failed: b: .* refused: HTTP 422 not_audio"):
        execute(chunk(conn_id, max_concurrent_requests=1), ti)
    a, b = ti.pushed["return_value"]  # pushed before failing: the summary still sees both songs
    assert a["status"] == "analysed" and (root / a["analysis_path"]).is_file()
    assert b["status"] == "failed" and b["retryable"] is False and "songs/b.wav is not audio" in b["error"]


def test_a_song_still_unavailable_after_the_in_task_retries_fails_the_task_for_a_retry(
    fake_service: Callable[..., Any], root: Path
) -> None:
    _, conn_id = fake_service(ok(), (503, UNAVAILABLE, {}, 0.0))
    ti = FakeTaskInstance()
    with pytest.raises(AirflowException) as info:
        execute(chunk(conn_id, max_concurrent_requests=1, http_attempts=2), ti)
    assert not isinstance(info.value, AirflowFailException)  # the task's own retries apply
    assert [o["status"] for o in ti.pushed["return_value"]] == ["analysed", "failed"]
    assert ti.pushed["return_value"][1]["retryable"] is True


def test_the_grid_names_a_chunk_by_its_first_and_last_song() -> None:
    assert AudioChunkOperator(task_id="t", songs=SONGS[:1]).chunk_label == "a"
    three = [*SONGS, {"song_id": "c", "song_path": "songs/c.wav"}]
    assert AudioChunkOperator(task_id="t", songs=three).chunk_label == "a … c (3)"
    with pytest.raises(ValueError, match="max_concurrent_requests"):
        AudioChunkOperator(task_id="t", songs=SONGS, max_concurrent_requests=0)
