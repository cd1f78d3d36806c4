"""The policy behind WorkflowServiceHook (hss_airflow.hooks: validation, retries, training jobs) and the
operators' input coercion and lyrics sidecar, without a network."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests
import tenacity
from requests.structures import CaseInsensitiveDict

from contracts.audio import AudioAnalysisRequest, AudioAnalysisResponse
from contracts.catalog import TRAINING_JOB
from contracts.content import MAX_LYRICS_CHARS
from contracts.training import TrainingJob
from hss_airflow.hooks.errors import ServiceRejected, ServiceUnavailable
from hss_airflow.hooks.retry import MAX_BACKOFF_S, MAX_RETRY_AFTER_S, http_retry_args, retry_after_seconds
from hss_airflow.hooks.training_jobs import JobTracker, job_endpoint, job_result
from hss_airflow.hooks.validation import (
    error_summary,
    interpret_response,
    is_retryable_status,
    validate_request,
    validate_response,
)
from hss_airflow.hooks.workflow_service import api_key_headers
from hss_airflow.lyrics import read_sidecar_lyrics
from hss_airflow.operators.inputs import coerce_document, coerce_optional_text

LOG = logging.getLogger("test_hooks")
ENVELOPE_404 = json.dumps(
    {
        "error": {
            "code": "file_not_found",
            "message": "No audio file at 'songs/missing.wav' in the data root.",
            "details": {"path": "songs/missing.wav"},
        }
    }
)
JOB = {
    "job_id": "t1",
    "training_id": "t1",
    "dataset_path": "training_data/f.csv",
    "status": "running",
    "progress": 0.3,
    "stage": "cross-validating",
    "created_at": "2026-01-01T00:00:00Z",
}


def response(status: int, body: str = "", headers: dict[str, str] | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body.encode()
    resp.headers = CaseInsensitiveDict(headers or {})
    return resp


# --- inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "None", "null", " none "])
def test_rendered_none_means_no_lyrics(value: object) -> None:
    assert coerce_optional_text(value) is None


def test_real_text_is_kept_verbatim() -> None:
    assert coerce_optional_text("  la la\n") == "  la la\n"


def test_upstream_documents_come_as_dicts_json_or_python_literals() -> None:
    doc = {"song_id": "s", "features": {"a": 1.0}}
    assert coerce_document(doc, "audio") == doc
    assert coerce_document(json.dumps(doc), "audio") == doc
    assert coerce_document(str(doc), "audio") == doc  # what a Jinja-rendered XCom dict looks like
    assert coerce_document("None", "audio") is None
    request = AudioAnalysisRequest(song_id="s", song_path="songs/s.wav")
    assert coerce_document(request, "audio") == {"song_id": "s", "song_path": "songs/s.wav"}
    with pytest.raises(ServiceRejected, match="audio must be a JSON object"):
        coerce_document("[1, 2]", "audio")
    with pytest.raises(ServiceRejected, match="audio must be a JSON object"):
        coerce_document(42, "audio")


def test_an_invalid_request_is_refused_naming_the_field() -> None:
    with pytest.raises(ServiceRejected) as info:
        validate_request(AudioAnalysisRequest, {"song_id": "bad id!", "song_path": ""}, "POST /x")
    message = str(info.value)
    assert "AudioAnalysisRequest" in message and "song_id" in message and "song_path" in message
    assert not info.value.retryable
    ok = validate_request(AudioAnalysisRequest, {"song_id": "ok", "song_path": "songs/a.wav"}, "POST /x")
    assert ok == {"song_id": "ok", "song_path": "songs/a.wav"}


def test_a_response_missing_a_field_names_it() -> None:
    with pytest.raises(ServiceRejected, match=r"AudioAnalysisResponse contract: .*features: Field required"):
        validate_response(AudioAnalysisResponse, json.dumps({"song_id": "s"}), "POST /x")
    with pytest.raises(ServiceRejected, match="not JSON"):
        validate_response(AudioAnalysisResponse, "<html>oops</html>", "POST /x")


# --- outcomes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (404, False), (409, False), (422, False), (429, True), (500, True), (503, True)],
)
def test_only_5xx_and_429_are_retryable(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_error_summary_quotes_status_code_and_message_of_the_envelope() -> None:
    summary = error_summary(404, ENVELOPE_404)
    assert summary.startswith("HTTP 404 file_not_found: No audio file at 'songs/missing.wav'")
    assert '"path": "songs/missing.wav"' in summary
    assert error_summary(502, "<html>\n Bad   gateway</html>") == "HTTP 502: <html> Bad gateway</html>"
    assert error_summary(500, "") == "HTTP 500: (empty body)"


def test_interpret_response_classifies_outcomes() -> None:
    with pytest.raises(ServiceRejected, match="refused: HTTP 404 file_not_found"):
        interpret_response(404, ENVELOPE_404, AudioAnalysisResponse, "POST /x")
    for status in (429, 503):
        with pytest.raises(ServiceUnavailable) as info:
            interpret_response(status, "", AudioAnalysisResponse, "POST /x")
        assert info.value.retryable
    job = interpret_response(200, json.dumps(JOB), TrainingJob, "GET /j")
    assert job["status"] == "running" and job["metrics"] is None


def test_retry_after_is_read_and_bounded() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"Retry-After": "0.5"}) == 0.5
    assert retry_after_seconds({"Retry-After": "3600"}) == MAX_RETRY_AFTER_S
    assert retry_after_seconds({"Retry-After": "-5"}) == 0.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 7.0 <= retry_after_seconds({"Retry-After": in_ten}) <= 10.0
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds({"Retry-After": past}) == 0.0


def run_scripted(outcomes: list, attempts: int = 4, backoff: float = 1.0, timeout: float = 0.5):
    """Run http_retry_args' tenacity loop over scripted outcomes; return (result, sleeps, calls)."""
    sleeps: list[float] = []
    calls = []

    def call():
        outcome = outcomes[min(len(calls), len(outcomes) - 1)]
        calls.append(outcome)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    args = http_retry_args(attempts=attempts, backoff=backoff, what="POST /x", timeout=timeout, log=LOG)
    args["sleep"] = sleeps.append
    return tenacity.Retrying(**args)(call), sleeps, calls


def test_5xx_is_retried_with_exponential_backoff_and_each_reason_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOG.name)
    result, sleeps, calls = run_scripted([response(503, ENVELOPE_404), response(500), response(200, "{}")])
    assert result.status_code == 200 and len(calls) == 3
    assert sleeps == [1.0, 2.0]
    assert "attempt 1/4 failed (HTTP 503 file_not_found" in caplog.text
    assert "attempt 2/4 failed (HTTP 500" in caplog.text


def test_a_full_queue_is_waited_out_beyond_the_attempts_of_real_failures() -> None:
    # workflow-audio's bounded queue answers 429 + Retry-After while it is full: back-pressure, not a failure
    busy = response(429, "", {"Retry-After": "5"})
    result, sleeps, calls = run_scripted([busy] * 10 + [response(500), response(200)], attempts=2)
    assert result.status_code == 200 and len(calls) == 12
    assert sleeps == [5.0] * 10 + [1.0]


def test_back_pressure_gives_up_after_its_budget() -> None:
    from hss_airflow.hooks.retry import BACKPRESSURE_BUDGET_S

    busy = response(429, "", {"Retry-After": "60"})
    with pytest.raises(ServiceUnavailable, match="still failing after"):
        run_scripted([busy] * 100, attempts=2)
    _, sleeps, _ = run_scripted([busy] * 5 + [response(200)], attempts=2)
    assert sum(sleeps) == 300.0 <= BACKPRESSURE_BUDGET_S


def test_429_and_503_honour_retry_after() -> None:
    result, sleeps, _ = run_scripted(
        [response(429, "", {"Retry-After": "7"}), response(503, "", {"Retry-After": "3"}), response(200)],
        backoff=0.01,
    )
    assert result.status_code == 200 and sleeps == [7.0, 3.0]


def test_backoff_is_capped() -> None:
    _, sleeps, _ = run_scripted([response(500)] * 3 + [response(200)], attempts=4, backoff=20.0)
    assert sleeps == [20.0, MAX_BACKOFF_S, MAX_BACKOFF_S]


def test_4xx_is_returned_at_once_for_the_caller_to_fail_fast() -> None:
    result, sleeps, calls = run_scripted([response(404, ENVELOPE_404), response(200)])
    assert result.status_code == 404 and sleeps == [] and len(calls) == 1


def test_connection_errors_give_up_after_the_attempts_as_transient() -> None:
    with pytest.raises(ServiceUnavailable) as info:
        run_scripted([requests.ConnectionError("[Errno 111] Connection refused")], attempts=3)
    assert "after 3 attempts" in str(info.value) and "Connection refused" in str(info.value)
    assert info.value.retryable


def test_timeouts_are_retried_and_named() -> None:
    result, _, calls = run_scripted([requests.ReadTimeout("read timed out"), response(200)])
    assert result.status_code == 200 and len(calls) == 2
    with pytest.raises(ServiceUnavailable, match=r"timed out after 0.5 s \(request_timeout\)"):
        run_scripted([requests.ReadTimeout("read timed out")], attempts=2)


def test_other_exceptions_are_not_retried() -> None:
    with pytest.raises(ValueError, match="bug"):
        run_scripted([ValueError("bug"), response(200)])


def test_api_key_goes_in_a_header_and_job_ids_are_quoted() -> None:
    assert api_key_headers("k")["X-API-Key"] == "k"
    assert "X-API-Key" not in api_key_headers(None)
    assert job_endpoint("a b/c") == TRAINING_JOB.format_path(job_id="a%20b%2Fc")


# --- lyrics sidecar ----------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "data" / "songs").mkdir(parents=True)
    return tmp_path / "data"


def test_sidecar_next_to_the_song_is_read(root: Path) -> None:
    (root / "songs" / "a.txt").write_text("\ufeffHello hello\n", encoding="utf-8")
    assert read_sidecar_lyrics("songs/a.mp3", root) == "Hello hello\n"  # the BOM is dropped
    assert read_sidecar_lyrics(str(root / "songs" / "a.wav"), str(root)) == "Hello hello\n"


def test_no_sidecar_means_instrumental(root: Path) -> None:
    assert read_sidecar_lyrics("songs/none.wav", root) is None


def test_a_sidecar_outside_the_data_root_is_refused(root: Path) -> None:
    (root.parent / "outside.txt").write_text("secret", encoding="utf-8")
    with pytest.raises(ServiceRejected, match="outside the data root"):
        read_sidecar_lyrics("../outside.wav", root)
    with pytest.raises(ServiceRejected, match="outside the data root"):
        read_sidecar_lyrics(str(root.parent / "outside.wav"), root)
    os.symlink(root.parent / "outside.txt", root / "songs" / "link.txt")
    with pytest.raises(ServiceRejected, match="outside the data root"):
        read_sidecar_lyrics("songs/link.wav", root)


def test_unusable_sidecars_are_refused_clearly(root: Path) -> None:
    (root / "songs" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ServiceRejected, match="not UTF-8"):
        read_sidecar_lyrics("songs/latin1.wav", root)
    (root / "songs" / "huge.txt").write_text("x" * (4 * MAX_LYRICS_CHARS + 1), encoding="utf-8")
    with pytest.raises(ServiceRejected, match="lyrics are limited"):
        read_sidecar_lyrics("songs/huge.wav", root)
    (root / "songs" / "dir.txt").mkdir()
    with pytest.raises(ServiceRejected, match="not a regular file"):
        read_sidecar_lyrics("songs/dir.wav", root)


# --- training jobs -----------------------------------------------------------------------------


def test_tracker_polls_on_until_the_job_finishes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOG.name)
    tracker = JobTracker("t1", log=LOG, max_consecutive_failures=3)
    assert tracker.on_response(200, json.dumps(JOB)) is None
    assert tracker.on_response(503, "") is None
    assert tracker.failures == 1
    done = {**JOB, "status": "succeeded", "progress": 1.0, "stage": "done", "model_version": "t1@abc"}
    job = tracker.on_response(200, json.dumps(done))
    assert job is not None and job.model_version == "t1@abc" and tracker.failures == 0
    assert "running  30% cross-validating" in caplog.text and "succeeded 100% done" in caplog.text


def test_tracker_gives_up_after_consecutive_transient_failures() -> None:
    tracker = JobTracker("t1", log=LOG, max_consecutive_failures=3)
    tracker.on_transient("connection refused")
    tracker.on_response(502, "")
    with pytest.raises(ServiceUnavailable, match="3 consecutive failed polls; last: connection refused"):
        tracker.on_transient("connection refused")


def test_tracker_fails_fast_on_4xx_and_contract_violations() -> None:
    tracker = JobTracker("t1", log=LOG)
    envelope = json.dumps({"error": {"code": "job_not_found", "message": "No training job 't1'."}})
    with pytest.raises(ServiceRejected, match="HTTP 404 job_not_found"):
        tracker.on_response(404, envelope)
    with pytest.raises(ServiceRejected, match="progress"):
        tracker.on_response(200, json.dumps({**JOB, "progress": 2.0}))


def test_job_result_succeeds_or_says_why_it_failed() -> None:
    done = TrainingJob.model_validate({**JOB, "status": "succeeded", "progress": 1.0, "model_version": "t1@a"})
    assert job_result(done)["model_version"] == "t1@a"
    bad = TrainingJob.model_validate({**JOB, "status": "failed", "error": "column 'is_hit' has only one class"})
    with pytest.raises(ServiceRejected, match="failed: column 'is_hit' has only one class"):
        job_result(bad)
    restarted = TrainingJob.model_validate(
        {**JOB, "status": "failed", "error": "the service restarted", "retryable": True}
    )
    with pytest.raises(ServiceUnavailable):
        job_result(restarted)
    # the decision is the service's explicit flag, never the wording of the error
    worded = TrainingJob.model_validate({**JOB, "status": "failed", "error": "please resubmit", "retryable": False})
    with pytest.raises(ServiceRejected):
        job_result(worded)
    with pytest.raises(ServiceRejected, match="not finished"):
        job_result(TrainingJob.model_validate(JOB))
