"""The HSS workflow operators: one base that calls a service over the `apache-airflow-providers-http` hook,
and one thin subclass per service that names its catalog entry (connection, endpoint, contracts) and payload.

Every operator validates its request and the response with the `contracts` models and returns the
response as a JSON-able dict (the task's `return_value` XCom). A 4xx, an invalid payload or a contract
violation fails the task at once (AirflowFailException: no retry); connection errors, timeouts, 5xx and
429 are retried in the task with exponential backoff, then raise AirflowException so the task's own
`retries` apply. The logic lives in `hss_airflow.service_calls`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from contracts.audio import AudioAnalysisResponse
from contracts.catalog import (
    AUDIO,
    AUDIO_ANALYZE,
    CONTENT,
    INSIGHTS_GENERATE,
    INTELLIGENCE,
    LYRICS_ANALYZE,
    PREDICT_SINGLE,
    PREDICTION,
    TRAINING,
    TRAINING_JOB,
    TRAINING_START,
    Endpoint,
    ServiceSpec,
)
from contracts.content import LyricsAnalysisResponse
from contracts.training import TrainingAccepted, TrainingJob
from hss_airflow.http_calls import call_endpoint
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
    job_endpoint,
    job_result,
    no_basic_auth,
    parse_model,
    read_sidecar_lyrics,
)
from hss_airflow.settings import settings
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
    """Send a contract-validated payload to one HSS service and return its validated response.

    Subclasses name their `service` and `endpoint` (catalog entries) and build the payload; the response is
    the task's `return_value` XCom.

    :param conn_id: Airflow connection of the service (default: the service's, e.g. `workflow_audio`,
        from `AIRFLOW_CONN_WORKFLOW_AUDIO`); its password is sent as the `X-API-Key` header.
    :param request_timeout: seconds one HTTP request may take before it counts as a transient failure.
    :param http_attempts: tries of one call inside the task (connection errors, timeouts, 5xx, 429) before
        the task fails and its own `retries` take over; at least 1.
    :param http_backoff: first wait between those tries in seconds, doubled each time (capped at 30 s; a
        bounded `Retry-After` wins).
    """

    service: ClassVar[ServiceSpec]
    endpoint: ClassVar[Endpoint]
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
        self.conn_id = conn_id or self.service.conn_id
        self.request_timeout = float(request_timeout)
        self.http_attempts = int(http_attempts)
        self.http_backoff = float(http_backoff)

    def build_payload(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        with airflow_errors():
            return self.call_service(self.endpoint, self.build_payload(context))

    def call_service(
        self, endpoint: Endpoint, payload: Mapping[str, Any] | None = None, *, path: str | None = None
    ) -> dict[str, Any]:
        return call_endpoint(
            self.conn_id,
            endpoint,
            payload,
            path=path,
            timeout=self.request_timeout,
            attempts=self.http_attempts,
            backoff=self.http_backoff,
            log=self.log,
        )


class AudioAnalysisOperator(WorkflowServiceOperator):
    """workflow-audio: Essentia features and highlights of one song (`POST /analyze/comprehensive`).

    :param song_id: identifier of the song (templated); names its result file.
    :param song_path: the audio file, relative to the data root or absolute inside it (templated); the
        service opens it and refuses a path outside the root, a missing file or a file that is not audio.
    """

    service = AUDIO
    endpoint = AUDIO_ANALYZE
    template_fields = ("song_id", "song_path")

    def __init__(self, *, song_id: str, song_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.song_id = song_id
        self.song_path = song_path

    def build_payload(self, context: Context) -> dict[str, Any]:
        return {"song_id": self.song_id, "song_path": self.song_path}


class ContentAnalysisOperator(WorkflowServiceOperator):
    """workflow-content: lyric features and sentiment (`POST /analyze/lyrics`).

    :param song_id: identifier of the song (templated).
    :param lyrics: the lyrics text (templated); empty, None or the rendered "None" mean "not given".
    :param song_path: the audio file (templated); without `lyrics`, its sidecar `<song>.txt` in the data
        root is read, and no sidecar means an instrumental (analysed as "").
    """

    service = CONTENT
    endpoint = LYRICS_ANALYZE
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
        text = read_sidecar_lyrics(song_path, settings().data_root)
        if text is None:
            self.log.info("no lyrics and no sidecar next to %s: an instrumental", song_path)
            return ""
        self.log.info("lyrics read from the sidecar of %s (%d characters)", song_path, len(text))
        return text


class MLPredictionOperator(WorkflowServiceOperator):
    """workflow-ml-prediction: hit probability with explanations (`POST /predict/single`).

    :param song_id: identifier of the song (templated).
    :param audio: the audio_analysis response (an XComArg, a dict or its JSON; templated).
    :param content: the content_analysis response, or None for no lyric features (templated).
    :param model_version: a trained model's version to use; None uses the latest (templated).
    """

    service = PREDICTION
    endpoint = PREDICT_SINGLE
    template_fields = ("song_id", "audio", "content", "model_version")
    template_fields_renderers = {"audio": "json", "content": "json"}

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
    """workflow-intelligence: summary and prioritised recommendations (`POST /insights/generate`).

    :param song_id: identifier of the song (templated).
    :param audio: the audio_analysis response (templated).
    :param content: the content_analysis response (templated).
    :param prediction: the hit_prediction response (templated).
    """

    service = INTELLIGENCE
    endpoint = INSIGHTS_GENERATE
    template_fields = ("song_id", "audio", "content", "prediction")
    template_fields_renderers = {"audio": "json", "content": "json", "prediction": "json"}

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

    :param training_id: identifier of the training (templated); also the job id.
    :param dataset_path: the features CSV, relative to the data root (templated).
    :param cv_folds: cross-validation folds per model.
    :param auc_floor: the ensemble's cross-validated AUC below which the job fails instead of saving a model.
    :param force: restart a training that exists already (refused while it runs).
    :param poll_interval: seconds between two polls of the job.
    :param deferrable: wait in the triggerer (True) or poll from the worker slot (False).
    :param max_poll_failures: consecutive failed polls tolerated before the task fails.
    """

    service = TRAINING
    endpoint = TRAINING_START
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
                job = self.call_service(TRAINING_JOB, path=job_endpoint(accepted.job_id))
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
