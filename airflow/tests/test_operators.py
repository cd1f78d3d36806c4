"""The analysis operators against the live services (fixture `live_services`), and against a scripted fake
server (conftest's `fake_service`) for what the real ones do not do on demand (503s, 429s, hangs, bad bodies).

The training operator and its trigger: test_training_operator.py. No metadata DB is involved: `execute`
resolves its connections from AIRFLOW_CONN_* env vars, as in a worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from contracts.audio import AudioAnalysisResponse
from contracts.catalog import AUDIO_ANALYZE, CONTENT
from contracts.content import LyricsAnalysisResponse
from contracts.insights import InsightsResponse
from contracts.prediction import PredictionResponse
from fixtures.audio import synth_song, write_not_audio
from fixtures.http_fakes import FAKE_AUDIO_ANALYSIS, UNAVAILABLE
from fixtures.lyrics import generate_lyrics, write_sidecar
from hss_airflow.operators import (
    AudioAnalysisOperator,
    ContentAnalysisOperator,
    IntelligenceOperator,
    MLPredictionOperator,
)
from stack.processes import free_port
from stack.waiting import wait_until

CONTEXT: Any = {}  # the operators read nothing from the context
FAST = {"http_backoff": 0.01}

FAKE_AUDIO = FAKE_AUDIO_ANALYSIS


pytestmark = pytest.mark.usefixtures("execute_outside_task_runner")


def ok(body: Any) -> tuple[int, Any, dict[str, str], float]:
    return (200, body, {}, 0.0)


def fake_audio_operator(conn_id: str, **kwargs: Any) -> AudioAnalysisOperator:
    return AudioAnalysisOperator(
        task_id="audio_analysis", song_id="fake", song_path="songs/fake.wav", conn_id=conn_id, **{**FAST, **kwargs}
    )


# --- live inputs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def song(live_services: dict[str, str], airflow_data_root: Path) -> str:
    synth_song(airflow_data_root / "songs" / "ops_song.wav", seconds=8)
    return "songs/ops_song.wav"


@pytest.fixture(scope="module")
def audio_result(song: str) -> dict[str, Any]:
    return AudioAnalysisOperator(task_id="audio_analysis", song_id="ops_song", song_path=song).execute(CONTEXT)


def request_count(base_url: str, handler: str, status: str, at_least: float = 0.0) -> float:
    """The service's own Prometheus counter of requests to `handler` answered with `status` (e.g. '4xx'),
    read again for a moment until it reaches `at_least` (the counter moves just after the response is sent)."""
    needle = f'http_requests_total{{handler="{handler}",method="POST",status="{status}"}}'
    deadline = time.monotonic() + 3.0
    while True:
        text = requests.get(f"{base_url}/metrics", timeout=10).text
        count = sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(needle))
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


# --- success against the live services ---------------------------------------------------------


def test_audio_operator_returns_the_validated_essentia_features(audio_result: dict[str, Any]) -> None:
    parsed = AudioAnalysisResponse.model_validate(audio_result)
    assert parsed.song_id == "ops_song" and len(parsed.features) >= 150
    assert 100 < parsed.highlights.tempo_bpm < 140  # synthesized at 120 BPM
    json.dumps(audio_result)  # JSON-able, as XCom needs


def test_content_operator_analyses_given_lyrics(live_services: dict[str, str], song: str) -> None:
    lyrics = generate_lyrics(1, mood="upbeat", hook_level=0.8)
    result = ContentAnalysisOperator(task_id="c", song_id="ops_song", lyrics=lyrics, song_path=song).execute(CONTEXT)
    parsed = LyricsAnalysisResponse.model_validate(result)
    assert not parsed.instrumental and parsed.sentiment.label == "positive"


def test_content_operator_reads_the_sidecar_when_the_rendered_lyrics_are_none(
    live_services: dict[str, str], airflow_data_root: Path
) -> None:
    synth_song(airflow_data_root / "songs" / "sad_song.wav", seconds=2)
    write_sidecar(airflow_data_root / "songs" / "sad_song.wav", generate_lyrics(2, mood="sad"))
    op = ContentAnalysisOperator(
        task_id="c", song_id="{{ params.song_id }}", lyrics="{{ params.lyrics }}", song_path="{{ params.song_path }}"
    )
    op.render_template_fields({"params": {"song_id": "sad_song", "lyrics": None, "song_path": "songs/sad_song.wav"}})
    assert op.lyrics == "None" and op.song_path == "songs/sad_song.wav"  # what Jinja makes of a None param
    parsed = LyricsAnalysisResponse.model_validate(op.execute(CONTEXT))
    assert parsed.song_id == "sad_song" and not parsed.instrumental and parsed.sentiment.label == "negative"


def test_content_operator_treats_a_missing_sidecar_as_instrumental(live_services: dict[str, str], song: str) -> None:
    result = ContentAnalysisOperator(task_id="c", song_id="ops_song", lyrics=None, song_path=song).execute(CONTEXT)
    assert LyricsAnalysisResponse.model_validate(result).instrumental


def test_content_operator_refuses_a_sidecar_outside_the_data_root(
    live_services: dict[str, str], airflow_data_root: Path
) -> None:
    (airflow_data_root.parent / "hss_outside.txt").write_text("not yours", encoding="utf-8")
    op = ContentAnalysisOperator(task_id="c", song_id="x", lyrics="", song_path="../hss_outside.wav")
    try:
        with pytest.raises(AirflowFailException, match="outside the data root"):
            op.execute(CONTEXT)
    finally:
        (airflow_data_root.parent / "hss_outside.txt").unlink()


def test_prediction_and_insights_operators_chain_the_responses(
    live_services: dict[str, str], audio_result: dict[str, Any]
) -> None:
    lyrics = generate_lyrics(3, mood="upbeat")
    content = ContentAnalysisOperator(task_id="c", song_id="ops_song", lyrics=lyrics).execute(CONTEXT)
    prediction = MLPredictionOperator(task_id="p", song_id="ops_song", audio=audio_result, content=content).execute(
        CONTEXT
    )
    parsed = PredictionResponse.model_validate(prediction)
    assert 0.0 <= parsed.hit_probability <= 1.0 and parsed.model_version
    insights = IntelligenceOperator(
        task_id="i", song_id="ops_song", audio=audio_result, content=str(content), prediction=json.dumps(prediction)
    ).execute(CONTEXT)
    parsed_insights = InsightsResponse.model_validate(insights)
    assert parsed_insights.song_id == "ops_song" and parsed_insights.recommendations
    assert parsed_insights.hit_probability == pytest.approx(parsed.hit_probability)


def test_a_claim_checked_analysis_is_stored_once_and_redeemed_downstream(
    audio_result: dict[str, Any], song: str, airflow_data_root: Path
) -> None:
    audio = AudioAnalysisOperator(task_id="audio_analysis", song_id="ops_song", song_path=song, claim_check=True)
    reference = audio.execute({"run_id": "manual__claim"})
    assert "features" not in reference and len(json.dumps(reference)) < 2000 < len(json.dumps(audio_result))
    stored = airflow_data_root / reference["claim_check"]["path"]
    assert stored.parent.parent == airflow_data_root / "results" / "parts" / "ops_song"  # apart from its results
    assert json.loads(stored.read_bytes())["features"] == audio_result["features"]  # Essentia is deterministic
    kwargs = {"task_id": "p", "song_id": "ops_song", "content": None}
    from_claim = MLPredictionOperator(audio=reference, **kwargs).execute(CONTEXT)
    assert from_claim == MLPredictionOperator(audio=audio_result, **kwargs).execute(CONTEXT)


def test_xcomargs_wire_the_operators_into_a_dag() -> None:
    with DAG("wiring_check", schedule=None) as dag:
        audio = AudioAnalysisOperator(task_id="audio_analysis", song_id="s", song_path="songs/s.wav")
        content = ContentAnalysisOperator(task_id="content_analysis", song_id="s", song_path="songs/s.wav")
        prediction = MLPredictionOperator(
            task_id="hit_prediction", song_id="s", audio=audio.output, content=content.output
        )
        IntelligenceOperator(
            task_id="ai_insights", song_id="s", audio=audio.output, content=content.output, prediction=prediction.output
        )
    assert dag.get_task("hit_prediction").upstream_task_ids == {"audio_analysis", "content_analysis"}
    assert dag.get_task("ai_insights").upstream_task_ids == {"audio_analysis", "content_analysis", "hit_prediction"}
    assert dag.get_task("content_analysis").conn_id == CONTENT.conn_id  # the catalog's, by default


# --- fail fast on 4xx (live) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("song_path", "expected"),
    [
        ("songs/missing.wav", "HTTP 404 file_not_found: No audio file at 'songs/missing.wav'"),
        ("songs/lyrics.mp3", "HTTP 422 not_audio"),
    ],
)
def test_a_4xx_fails_the_task_at_once_with_the_services_message(
    live_services: dict[str, str], airflow_data_root: Path, song_path: str, expected: str
) -> None:
    write_not_audio(airflow_data_root / "songs" / "lyrics.mp3")
    url = live_services["workflow-audio"]
    before = request_count(url, AUDIO_ANALYZE.path, "4xx")
    op = AudioAnalysisOperator(task_id="a", song_id="bad_song", song_path=song_path, **FAST)
    with pytest.raises(AirflowFailException) as info:
        op.execute(CONTEXT)
    assert expected in str(info.value)
    assert request_count(url, AUDIO_ANALYZE.path, "4xx", at_least=before + 1) == before + 1  # once: no retry


def test_a_wrong_api_key_fails_the_task_at_once(
    live_services: dict[str, str], http_connection: Callable[..., str]
) -> None:
    port = int(live_services["workflow-audio"].rpartition(":")[2])
    conn_id = http_connection("audio_wrong_key", port, "wrong-key")
    op = AudioAnalysisOperator(task_id="a", song_id="x", song_path="songs/x.wav", conn_id=conn_id, **FAST)
    with pytest.raises(AirflowFailException, match="HTTP 401 unauthorized"):
        op.execute(CONTEXT)


def test_an_invalid_payload_is_refused_before_anything_is_sent(live_services: dict[str, str]) -> None:
    url = live_services["workflow-audio"]
    before = sum(request_count(url, AUDIO_ANALYZE.path, s) for s in ("2xx", "4xx", "5xx"))
    op = AudioAnalysisOperator(task_id="a", song_id="not a valid id!", song_path="songs/x.wav")
    with pytest.raises(AirflowFailException, match=r"invalid AudioAnalysisRequest: song_id"):
        op.execute(CONTEXT)
    assert sum(request_count(url, AUDIO_ANALYZE.path, s) for s in ("2xx", "4xx", "5xx")) == before


# --- transient failures (fake service) ---------------------------------------------------------


def test_503_twice_then_200_succeeds_on_the_third_call(fake_service: Callable[..., Any]) -> None:
    service, conn_id = fake_service((503, UNAVAILABLE, {}, 0.0), (503, UNAVAILABLE, {}, 0.0), ok(FAKE_AUDIO))
    result = fake_audio_operator(conn_id).execute(CONTEXT)
    assert AudioAnalysisResponse.model_validate(result).song_id == "fake"
    assert len(service.calls) == 3 and result == FAKE_AUDIO
    first = service.calls[0]
    assert json.loads(first["body"]) == {"song_id": "fake", "song_path": "songs/fake.wav"}
    assert first["headers"]["X-API-Key"] == "fake-key" and "Authorization" not in first["headers"]  # no basic auth


def test_429_retry_after_is_honoured(fake_service: Callable[..., Any]) -> None:
    service, conn_id = fake_service((429, UNAVAILABLE, {"Retry-After": "1"}, 0.0), ok(FAKE_AUDIO))
    started = time.monotonic()
    fake_audio_operator(conn_id).execute(CONTEXT)
    assert time.monotonic() - started >= 0.95  # backoff alone would be 0.01 s
    assert len(service.calls) == 2


def test_persistent_5xx_raises_a_retryable_airflow_exception(fake_service: Callable[..., Any]) -> None:
    service, conn_id = fake_service((500, UNAVAILABLE, {}, 0.0))
    with pytest.raises(AirflowException) as info:
        fake_audio_operator(conn_id, http_attempts=3).execute(CONTEXT)
    assert not isinstance(info.value, AirflowFailException)  # the task's own retries apply
    assert "after 3 attempts" in str(info.value) and "HTTP 500 overloaded: try again later" in str(info.value)
    assert len(service.calls) == 3


def test_connection_refused_is_retried_then_raises_a_retryable_airflow_exception(
    monkeypatch: pytest.MonkeyPatch, http_connection: Callable[..., str]
) -> None:
    http_connection("closed_port", free_port(), "k")
    sends: list[str] = []
    real_send = requests.Session.send

    def counting_send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        sends.append(request.url or "")
        return real_send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", counting_send)
    with pytest.raises(AirflowException) as info:
        fake_audio_operator("closed_port", http_attempts=3).execute(CONTEXT)
    assert not isinstance(info.value, AirflowFailException)
    assert "after 3 attempts" in str(info.value) and "Connection refused" in str(info.value)
    assert len(sends) == 3


def test_a_service_slower_than_request_timeout_is_retried_then_fails_naming_the_timeout(
    fake_service: Callable[..., Any],
) -> None:
    slow_s = 5.0
    service, conn_id = fake_service((200, FAKE_AUDIO, {}, slow_s))
    started = time.monotonic()
    with pytest.raises(AirflowException) as info:
        fake_audio_operator(conn_id, request_timeout=0.3, http_attempts=2).execute(CONTEXT)
    elapsed = time.monotonic() - started
    assert not isinstance(info.value, AirflowFailException)
    assert "timed out after 0.3 s (request_timeout)" in str(info.value)
    assert elapsed < slow_s, elapsed  # neither attempt waited for the slow answer
    # The fake records a request when its thread gets the CPU, which on a busy machine can be after the client
    # has given up on it: wait for the second attempt to show, then check that there was no third.
    wait_until(lambda: len(service.calls) >= 2, timeout=10, interval=0.05, what="the second attempt at the fake")
    assert len(service.calls) == 2


def test_a_response_violating_the_contract_fails_the_task_naming_the_field(fake_service: Callable[..., Any]) -> None:
    body = {k: v for k, v in FAKE_AUDIO.items() if k != "features"}
    service, conn_id = fake_service(ok(body))
    with pytest.raises(AirflowFailException, match=r"AudioAnalysisResponse contract: features: Field required"):
        fake_audio_operator(conn_id).execute(CONTEXT)
    assert len(service.calls) == 1
