"""The HSS workflow operators: one base that calls a service through WorkflowServiceHook, and one thin subclass
per service that names its catalog entry (connection, endpoint, contracts) and builds its payload.

Every operator validates its request and the response with the `contracts` models (in the hook) and returns the
response as a JSON-able dict (the task's `return_value` XCom). A 4xx, an invalid payload or a contract
violation fails the task at once (AirflowFailException: no retry); connection errors, timeouts, 5xx and
429 are retried in the task with exponential backoff, then raise AirflowException so the task's own
`retries` apply. The policy is the hook's (hss_airflow.hooks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

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
    Endpoint,
    ServiceSpec,
)
from contracts.content import LyricsAnalysisResponse
from hss_airflow.claim_check import check_in, redeem
from hss_airflow.hooks import WorkflowServiceHook, airflow_errors, parse_model
from hss_airflow.lyrics import read_sidecar_lyrics
from hss_airflow.operators.inputs import coerce_document, coerce_optional_text
from hss_airflow.results import part_path
from hss_airflow.settings import settings

if TYPE_CHECKING:
    from airflow.sdk import Context


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
        return self.hook.call(endpoint, payload, path=path)

    @property
    def hook(self) -> WorkflowServiceHook:
        """A fresh hook on this task's connection, timeout and retry settings, logging into the task log."""
        return WorkflowServiceHook(
            self.conn_id,
            request_timeout=self.request_timeout,
            attempts=self.http_attempts,
            backoff=self.http_backoff,
            logger=self.log,
        )


class AudioAnalysisOperator(WorkflowServiceOperator):
    """workflow-audio: Essentia features and highlights of one song (`POST /analyze/comprehensive`).

    :param song_id: identifier of the song (templated); names its result file.
    :param song_path: the audio file, relative to the data root or absolute inside it (templated); the
        service opens it and refuses a path outside the root, a missing file or a file that is not audio.
    :param claim_check: store the analysis in the data root (`results/parts/<song_id>/<run_id>/audio.json`)
        and return a claim check instead of the ~650 features (hss_airflow.claim_check); the operators
        downstream redeem it. False returns the whole analysis.
    """

    service = AUDIO
    endpoint = AUDIO_ANALYZE
    template_fields = ("song_id", "song_path")

    def __init__(self, *, song_id: str, song_path: str, claim_check: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.song_id = song_id
        self.song_path = song_path
        self.claim_check = claim_check

    def build_payload(self, context: Context) -> dict[str, Any]:
        return {"song_id": self.song_id, "song_path": self.song_path}

    def execute(self, context: Context) -> dict[str, Any]:
        analysis = super().execute(context)
        if not self.claim_check:
            return analysis
        reference = check_in(analysis, part_path(self.song_id, context["run_id"], "audio"), bulky=("features",))
        claim = reference["claim_check"]
        self.log.info(
            "%d features stored in %s (%d bytes); XCom carries the claim check",
            len(analysis["features"]),
            claim["path"],
            claim["bytes"],
        )
        return reference


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
    :param audio: the audio_analysis response or its claim check (an XComArg, a dict or its JSON; templated).
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
        audio = parse_model(AudioAnalysisResponse, redeem(coerce_document(self.audio, "audio"), "audio"), "audio")
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
    :param audio: the audio_analysis response or its claim check (templated).
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
            "audio": redeem(coerce_document(self.audio, "audio"), "audio"),
            "content": coerce_document(self.content, "content"),
            "prediction": coerce_document(self.prediction, "prediction"),
        }
