"""The HSS workflow operators: one base that calls a service over the `apache-airflow-providers-http` hook,
and one thin subclass per service that names its connection, endpoint, contracts and payload.

Every operator validates its request and the response with the `contracts` models and returns the
response as a JSON-able dict (the task's `return_value` XCom). A 4xx, an invalid payload or a contract
violation fails the task at once (AirflowFailException: no retry); connection errors, timeouts, 5xx and
429 are retried in the task with exponential backoff, then raise AirflowException so the task's own
`retries` apply. The logic lives in `hss_airflow.service_calls`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from pydantic import BaseModel

from contracts.audio import AudioAnalysisRequest, AudioAnalysisResponse
from contracts.content import LyricsAnalysisRequest, LyricsAnalysisResponse
from contracts.insights import InsightsRequest, InsightsResponse
from contracts.prediction import PredictionRequest, PredictionResponse
from contracts.training import TrainingAccepted, TrainingJob, TrainingRequest
from hss_airflow.http_calls import send
from hss_airflow.service_calls import (
    DEFAULT_MAX_POLL_FAILURES,
    TRANSIENT_EXCEPTIONS,
    JobTracker,
    ServiceRejected,
    ServiceUnavailable,
    api_key_headers,
    coerce_document,
    coerce_optional_text,
    describe_exception,
    interpret_response,
    job_endpoint,
    job_result,
    no_basic_auth,
    parse_model,
    read_sidecar_lyrics,
    validate_request,
)
from hss_airflow.triggers import MLTrainingJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


@contextmanager
def airflow_errors() -> Iterator[None]:
    """ServiceRejected -> AirflowFailException (no retry); ServiceUnavailable -> AirflowException (retries)."""
    try:
        yield
    except ServiceRejected as exc:
        raise AirflowFailException(str(exc)) from exc
    except ServiceUnavailable as exc:
        raise AirflowException(str(exc)) from exc


class WorkflowServiceOperator(BaseOperator):
    """POST a contract-validated payload to one HSS service and return its validated response."""

    default_conn_id: ClassVar[str] = ""
    endpoint: ClassVar[str] = ""
    request_model: ClassVar[type[BaseModel]]
    response_model: ClassVar[type[BaseModel]]
    template_fields: Sequence[str] = ()
    ui_color = "#dceefb"

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        request_timeout: float = 120.0,
        http_attempts: int = 4,
        http_backoff: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if http_attempts < 1:
            raise ValueError("http_attempts must be >= 1")
        self.conn_id = conn_id or self.default_conn_id
        self.request_timeout = float(request_timeout)
        self.http_attempts = int(http_attempts)
        self.http_backoff = float(http_backoff)

    def build_payload(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        with airflow_errors():
            return self.call_service("POST", self.endpoint, self.response_model, self.build_payload(context))

    def call_service(
        self, method: str, endpoint: str, response_model: type[BaseModel], payload: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        what = f"{method} {endpoint} on {self.conn_id}"
        body = validate_request(self.request_model, payload, what) if payload is not None else None
        response = send(
            self.conn_id,
            method,
            endpoint,
            body,
            timeout=self.request_timeout,
            attempts=self.http_attempts,
            backoff=self.http_backoff,
            log=self.log,
        )
        return interpret_response(response.status_code, response.text, response_model, what)


class AudioAnalysisOperator(WorkflowServiceOperator):
    """workflow-audio: Essentia features of one song (`POST /analyze/comprehensive`)."""

    default_conn_id = "workflow_audio"
    endpoint = "/analyze/comprehensive"
    request_model = AudioAnalysisRequest
    response_model = AudioAnalysisResponse
    template_fields = ("song_id", "song_path")

    def __init__(self, *, song_id: str, song_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.song_id = song_id
        self.song_path = song_path

    def build_payload(self, context: Context) -> dict[str, Any]:
        return {"song_id": self.song_id, "song_path": self.song_path}


class ContentAnalysisOperator(WorkflowServiceOperator):
    """workflow-content: lyric features (`POST /analyze/lyrics`). Without lyrics, reads the sidecar
    `<song>.txt` next to the audio in HSS_DATA_ROOT; no sidecar means an instrumental ("")."""

    default_conn_id = "workflow_content"
    endpoint = "/analyze/lyrics"
    request_model = LyricsAnalysisRequest
    response_model = LyricsAnalysisResponse
    template_fields = ("song_id", "lyrics", "song_path")

    def __init__(self, *, song_id: str, lyrics: str | None = None, song_path: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.song_id = song_id
        self.lyrics = lyrics
        self.song_path = song_path

    def build_payload(self, context: Context) -> dict[str, Any]:
        return {"song_id": self.song_id, "lyrics": self.resolve_lyrics()}

    def resolve_lyrics(self) -> str:
        lyrics = coerce_optional_text(self.lyrics)
        if lyrics is not None:
            return lyrics
        song_path = coerce_optional_text(self.song_path)
        if song_path is None:
            self.log.info("no lyrics and no song_path: analysing %s as an instrumental", self.song_id)
            return ""
        text = read_sidecar_lyrics(song_path, os.environ.get("HSS_DATA_ROOT"))
        if text is None:
            self.log.info("no lyrics and no sidecar next to %s: an instrumental", song_path)
            return ""
        self.log.info("lyrics read from the sidecar of %s (%d characters)", song_path, len(text))
        return text


class MLPredictionOperator(WorkflowServiceOperator):
    """workflow-ml-prediction: hit probability from the audio and content responses (`POST /predict/single`)."""

    default_conn_id = "workflow_ml_prediction"
    endpoint = "/predict/single"
    request_model = PredictionRequest
    response_model = PredictionResponse
    template_fields = ("song_id", "audio", "content", "model_version")

    def __init__(self, *, song_id: str, audio: Any, content: Any = None, model_version: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.song_id = song_id
        self.audio = audio
        self.content = content
        self.model_version = model_version

    def build_payload(self, context: Context) -> dict[str, Any]:
        audio = parse_model(AudioAnalysisResponse, coerce_document(self.audio, "audio"), "audio")
        content_doc = coerce_document(self.content, "content")
        content = parse_model(LyricsAnalysisResponse, content_doc, "content") if content_doc is not None else None
        return {
            "song_id": self.song_id,
            "audio_features": audio.features,
            "content_features": content.features if content is not None else {},
            "model_version": coerce_optional_text(self.model_version),
        }


class IntelligenceOperator(WorkflowServiceOperator):
    """workflow-intelligence: summary and recommendations (`POST /insights/generate`)."""

    default_conn_id = "workflow_intelligence"
    endpoint = "/insights/generate"
    request_model = InsightsRequest
    response_model = InsightsResponse
    template_fields = ("song_id", "audio", "content", "prediction")

    def __init__(self, *, song_id: str, audio: Any, content: Any, prediction: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.song_id = song_id
        self.audio = audio
        self.content = content
        self.prediction = prediction

    def build_payload(self, context: Context) -> dict[str, Any]:
        return {
            "song_id": self.song_id,
            "audio": coerce_document(self.audio, "audio"),
            "content": coerce_document(self.content, "content"),
            "prediction": coerce_document(self.prediction, "prediction"),
        }


class MLTrainingOperator(WorkflowServiceOperator):
    """workflow-ml-training: start the smart-ensemble training, wait for the job, return the TrainingJob JSON.

    Deferrable (default): after the 202 the worker slot is freed and `MLTrainingJobTrigger` polls the job
    in the triggerer. Resubmitting the same `training_id` returns the existing job (safe for retries).
    """

    default_conn_id = "workflow_ml_training"
    endpoint = "/train/smart_ensemble"
    request_model = TrainingRequest
    response_model = TrainingAccepted
    template_fields = ("training_id", "dataset_path")
    ui_color = "#fde8c8"

    def __init__(
        self,
        *,
        training_id: str,
        dataset_path: str,
        cv_folds: int = 5,
        auc_floor: float = 0.55,
        force: bool = False,
        poll_interval: float = 5.0,
        deferrable: bool = True,
        max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.training_id = training_id
        self.dataset_path = dataset_path
        self.cv_folds = cv_folds
        self.auc_floor = auc_floor
        self.force = force
        self.poll_interval = float(poll_interval)
        self.deferrable = deferrable
        self.max_poll_failures = int(max_poll_failures)

    def build_payload(self, context: Context) -> dict[str, Any]:
        return {
            "training_id": self.training_id,
            "dataset_path": self.dataset_path,
            "cv_folds": self.cv_folds,
            "auc_floor": self.auc_floor,
            "force": self.force,
        }

    def execute(self, context: Context) -> dict[str, Any]:
        with airflow_errors():
            accepted = TrainingAccepted.model_validate(super().execute(context))
            if accepted.existing:
                self.log.info(
                    "training %s exists already: job %s is %s", accepted.training_id, accepted.job_id, accepted.status
                )
            if accepted.status.finished:
                job = self.call_service("GET", job_endpoint(accepted.job_id), TrainingJob)
                return job_result(TrainingJob.model_validate(job), self.log)
            if not self.deferrable:
                return job_result(self._poll(accepted.job_id), self.log)
        self.log.info("training job %s is %s; deferring to the triggerer", accepted.job_id, accepted.status.value)
        self.defer(
            trigger=MLTrainingJobTrigger(
                job_id=accepted.job_id,
                conn_id=self.conn_id,
                poll_interval=self.poll_interval,
                request_timeout=self.request_timeout,
                max_consecutive_failures=self.max_poll_failures,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        with airflow_errors():
            if event.get("status") != "finished":
                message = event.get("message") or f"unexpected trigger event {event!r}"
                raise (ServiceUnavailable if event.get("retryable") else ServiceRejected)(message)
            job = parse_model(TrainingJob, event.get("job"), "the training job in the trigger event")
            return job_result(job, self.log)

    def _poll(self, job_id: str) -> TrainingJob:
        """Synchronous twin of MLTrainingJobTrigger.run (deferrable=False)."""
        tracker = JobTracker(job_id, log=self.log, max_consecutive_failures=self.max_poll_failures)
        hook = HttpHook(method="GET", http_conn_id=self.conn_id, auth_type=no_basic_auth)
        headers = api_key_headers(hook.get_connection(self.conn_id).password)
        options = {"check_response": False, "timeout": self.request_timeout}
        while True:
            try:
                response = hook.run(job_endpoint(job_id), headers=headers, extra_options=dict(options))
            except TRANSIENT_EXCEPTIONS as exc:
                tracker.on_transient(describe_exception(exc, self.request_timeout))
            else:
                job = tracker.on_response(response.status_code, response.text)
                if job is not None:
                    return job
            time.sleep(self.poll_interval)
