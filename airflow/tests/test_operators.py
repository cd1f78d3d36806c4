"""The six workflow operators and the training trigger against the live services (fixture `live_services`),
and against a scripted fake server for what the real ones do not do on demand (503s, 429s, hangs, bad bodies).

No metadata DB is involved: `execute` resolves its connections from AIRFLOW_CONN_* env vars, as in a worker.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow.sdk import DAG
from airflow.sdk.bases.operator import ExecutorSafeguard
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from contracts.audio import AudioAnalysisResponse
from contracts.catalog import AUDIO_ANALYZE, CONTENT, TRAINING, TRAINING_JOB
from contracts.content import LyricsAnalysisResponse
from contracts.insights import InsightsResponse
from contracts.prediction import PredictionResponse
from contracts.training import TrainingJob
from e2e.harness.processes import free_port
from fixtures.audio import synth_song, write_not_audio
from fixtures.datasets import make_features_dataset, make_one_class_dataset
from fixtures.lyrics import generate_lyrics, write_sidecar
from hss_airflow.operators import (
    AudioAnalysisOperator,
    ContentAnalysisOperator,
    IntelligenceOperator,
    MLPredictionOperator,
    MLTrainingOperator,
)
from hss_airflow.triggers import MLTrainingJobTrigger

CONTEXT: Any = {}  # the operators read nothing from the context
FAST = {"http_backoff": 0.01}

HIGHLIGHTS = dict(tempo_bpm=120.0, key="C", scale="major", key_strength=0.8, duration_s=8.0, loudness=-14.0)
FAKE_AUDIO = dict(
    song_id="fake",
    features={f"fake.{i}": float(i) for i in range(150)},
    highlights={**HIGHLIGHTS, "danceability": 1.2},
    feature_count=150,
    extractor="fake",
    analysis_seconds=0.0,
)
FAKE_JOB = dict(job_id="fake_job", training_id="fake_job", dataset_path="training_data/f.csv", status="running")
FAKE_JOB |= dict(progress=0.4, stage="cross-validating", created_at="2026-01-01T00:00:00Z")
UNAVAILABLE = {"error": {"code": "overloaded", "message": "try again later"}}


@pytest.fixture(autouse=True)
def _execute_outside_task_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's unit-test mode: calling `execute` directly is expected here."""
    monkeypatch.setattr(ExecutorSafeguard, "test_mode", True)


# --- a scripted fake service -------------------------------------------------------------------


class FakeService:
    """Answers request n with steps[n] (the last step repeats): (status, body, headers, delay_s)."""

    def __init__(self, steps: list[tuple[int, Any, dict[str, str], float]]) -> None:
        self.steps = steps
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake._lock:
                    step = fake.steps[min(len(fake.calls), len(fake.steps) - 1)]
                    fake.calls.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, payload, headers, delay = step
                time.sleep(delay)
                data = json.dumps(payload).encode() if payload is not None else b""
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, port: int, api_key: str | None = None) -> str:
    """An Airflow connection as an env var, the way the launcher defines them (JSON, API key as password)."""
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "password": api_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture
def fake_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[FakeService, str]]]:
    """fake_service(*steps) -> (server, conn_id): an Airflow connection (env var) with API key 'fake-key'."""
    started: list[FakeService] = []

    def start(*steps: tuple[int, Any, dict[str, str], float]) -> tuple[FakeService, str]:
        service = FakeService(list(steps))
        started.append(service)
        return service, set_connection(monkeypatch, f"fake_service_{len(started)}", service.port, "fake-key")

    yield start
    for service in started:
        service.close()


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


def test_a_wrong_api_key_fails_the_task_at_once(live_services: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    port = int(live_services["workflow-audio"].rpartition(":")[2])
    conn_id = set_connection(monkeypatch, "audio_wrong_key", port, "wrong-key")
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_connection(monkeypatch, "closed_port", free_port(), "k")
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
    service, conn_id = fake_service((200, FAKE_AUDIO, {}, 1.5))
    started = time.monotonic()
    with pytest.raises(AirflowException) as info:
        fake_audio_operator(conn_id, request_timeout=0.3, http_attempts=2).execute(CONTEXT)
    assert not isinstance(info.value, AirflowFailException)
    assert "timed out after 0.3 s (request_timeout)" in str(info.value)
    assert len(service.calls) == 2 and time.monotonic() - started < 1.5


def test_a_response_violating_the_contract_fails_the_task_naming_the_field(fake_service: Callable[..., Any]) -> None:
    body = {k: v for k, v in FAKE_AUDIO.items() if k != "features"}
    service, conn_id = fake_service(ok(body))
    with pytest.raises(AirflowFailException, match=r"AudioAnalysisResponse contract: features: Field required"):
        fake_audio_operator(conn_id).execute(CONTEXT)
    assert len(service.calls) == 1


# --- training ----------------------------------------------------------------------------------


def first_event(trigger: MLTrainingJobTrigger, timeout: float = 120.0) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), timeout))


@pytest.fixture(scope="module")
def features_csv(live_services: dict[str, str], airflow_data_root: Path) -> str:
    make_features_dataset(airflow_data_root / "training_data" / "features" / "ops.csv", n_rows=160)
    return "training_data/features/ops.csv"


def test_training_defers_to_the_trigger_and_completes_with_a_model(features_csv: str) -> None:
    op = MLTrainingOperator(task_id="t", training_id="ops_deferred", dataset_path=features_csv, poll_interval=0.3)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(CONTEXT)
    trigger = deferred.value.trigger
    assert isinstance(trigger, MLTrainingJobTrigger) and deferred.value.method_name == "execute_complete"
    # Forcing a retrain while the job runs is a 409: fail fast.
    forced = MLTrainingOperator(task_id="t", training_id="ops_deferred", dataset_path=features_csv, force=True)
    with pytest.raises(AirflowFailException, match="HTTP 409 job_active"):
        forced.execute(CONTEXT)
    # What the triggerer does: rebuild the trigger from its serialized form, run it until its event.
    classpath, kwargs = trigger.serialize()
    assert classpath == "hss_airflow.triggers.MLTrainingJobTrigger"
    assert kwargs == {
        "job_id": "ops_deferred",
        "conn_id": TRAINING.conn_id,
        "poll_interval": 0.3,
        "request_timeout": 120.0,
        "max_consecutive_failures": 10,
    }  # no API key: the triggerer resolves the connection itself
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    event = first_event(rebuilt)
    job = TrainingJob.model_validate(op.execute_complete(CONTEXT, event))
    assert job.status == "succeeded" and job.model_version and job.metrics is not None
    # A rerun (task retry, DAG rerun) finds the finished job and returns it without deferring.
    again = MLTrainingOperator(task_id="t", training_id="ops_deferred", dataset_path=features_csv).execute(CONTEXT)
    assert again["model_version"] == job.model_version


def test_a_failed_training_job_fails_the_task_with_the_jobs_error(airflow_data_root: Path, features_csv: str) -> None:
    make_one_class_dataset(airflow_data_root / "training_data" / "features" / "one_class.csv")
    op = MLTrainingOperator(
        task_id="t", training_id="ops_one_class", dataset_path="training_data/features/one_class.csv", poll_interval=0.3
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(CONTEXT)
    event = first_event(deferred.value.trigger)
    assert event["status"] == "finished" and event["job"]["status"] == "failed"
    with pytest.raises(AirflowFailException, match=r"training job .ops_one_class. failed: .*only one class"):
        op.execute_complete(CONTEXT, event)


def test_training_without_deferral_polls_in_the_task(features_csv: str) -> None:
    op = MLTrainingOperator(
        task_id="t", training_id="ops_sync", dataset_path=features_csv, deferrable=False, poll_interval=0.3
    )
    job = TrainingJob.model_validate(op.execute(CONTEXT))
    assert job.status == "succeeded" and job.model_version and job.training_id == "ops_sync"


def test_trigger_reports_an_unknown_job_as_a_permanent_error(live_services: dict[str, str]) -> None:
    event = first_event(MLTrainingJobTrigger(job_id="no_such_job", poll_interval=0.1))
    assert event["status"] == "error" and not event["retryable"] and "HTTP 404 job_not_found" in event["message"]
    op = MLTrainingOperator(task_id="t", training_id="no_such_job", dataset_path="training_data/x.csv")
    with pytest.raises(AirflowFailException, match="job_not_found"):
        op.execute_complete(CONTEXT, event)


def test_trigger_polls_through_transient_errors(fake_service: Callable[..., Any]) -> None:
    done = {**FAKE_JOB, "status": "succeeded", "progress": 1.0, "stage": "done", "model_version": "fake_job@1"}
    service, conn_id = fake_service(
        (503, UNAVAILABLE, {}, 0.0), (502, None, {}, 0.0), ok(FAKE_JOB), (500, UNAVAILABLE, {}, 0.0), ok(done)
    )
    event = first_event(MLTrainingJobTrigger(job_id="fake_job", conn_id=conn_id, poll_interval=0.01))
    assert event == {"status": "finished", "job": TrainingJob.model_validate(done).model_dump(mode="json")}
    assert len(service.calls) == 5 and all(
        c["path"] == TRAINING_JOB.format_path(job_id="fake_job") for c in service.calls
    )
    assert service.calls[0]["headers"]["X-API-Key"] == "fake-key"


def test_trigger_gives_up_after_consecutive_connection_failures_as_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "training_down", free_port())
    trigger = MLTrainingJobTrigger(job_id="j", conn_id="training_down", poll_interval=0.01, max_consecutive_failures=3)
    event = first_event(trigger)
    assert event["status"] == "error" and event["retryable"] and "3 consecutive failed polls" in event["message"]
    op = MLTrainingOperator(task_id="t", training_id="j", dataset_path="training_data/x.csv", conn_id="training_down")
    with pytest.raises(AirflowException) as info:
        op.execute_complete(CONTEXT, event)
    assert not isinstance(info.value, AirflowFailException)
